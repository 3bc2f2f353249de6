// safetensors reading, validation and writing; see safetensors.h.
#include "engine/model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/util/float16.h"
#include "engine/util/json_util.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace rattn::model {
namespace {

using nlohmann::json;

// A header larger than this is refused before it is parsed (the reference library's limit).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr int kMaxRank = 8;

struct DTypeEntry {
  absl::string_view name;
  DType dtype;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {"F32", DType::kF32, 4},   {"F16", DType::kF16, 2}, {"BF16", DType::kBF16, 2},
    {"F64", DType::kF64, 8},   {"I64", DType::kI64, 8}, {"I32", DType::kI32, 4},
    {"I16", DType::kI16, 2},   {"I8", DType::kI8, 1},   {"U8", DType::kU8, 1},
    {"BOOL", DType::kBool, 1},
};

absl::Status HeaderError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

absl::Status TensorError(absl::string_view path, absl::string_view name,
                         absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "': ", problem));
}

uint64_t ReadLittleEndian64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

absl::StatusOr<TensorInfo> ParseEntry(const std::string& name, const json& entry,
                                      absl::string_view data, absl::string_view path,
                                      uint64_t* begin_out) {
  if (!entry.is_object()) return TensorError(path, name, "entry is not a JSON object");
  for (const auto& [key, unused] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return TensorError(path, name, "unexpected key '" + key + "'");
    }
  }
  TensorInfo tensor;
  tensor.name = name;

  auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string()) {
    return TensorError(path, name, "missing or non-string 'dtype'");
  }
  std::string dtype_name = dtype->get<std::string>();
  const DTypeEntry* known = nullptr;
  for (const DTypeEntry& candidate : kDTypes) {
    if (candidate.name == dtype_name) known = &candidate;
  }
  if (known == nullptr) return TensorError(path, name, "unknown dtype '" + dtype_name + "'");
  tensor.dtype = known->dtype;

  auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) {
    return TensorError(path, name, "missing or non-list 'shape'");
  }
  if (shape->size() > kMaxRank) {
    return TensorError(path, name, absl::StrCat("rank ", shape->size(), " exceeds ", kMaxRank));
  }
  // Element count, refusing any product that would not fit the file anyway.
  uint64_t elements = 1;
  for (const json& dim : *shape) {
    if (!dim.is_number_unsigned()) {
      return TensorError(path, name, "shape " + shape->dump() + " has a non-natural dimension");
    }
    uint64_t size = dim.get<uint64_t>();
    if (size != 0 && elements > std::numeric_limits<uint64_t>::max() / size / known->size) {
      return TensorError(path, name, "shape " + shape->dump() + " overflows");
    }
    elements *= size;
    tensor.shape.push_back(static_cast<int64_t>(size));
  }

  auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
    return TensorError(path, name, "'data_offsets' must be two non-negative integers");
  }
  uint64_t begin = (*offsets)[0].get<uint64_t>();
  uint64_t end = (*offsets)[1].get<uint64_t>();
  if (begin > end) {
    return TensorError(path, name,
                       absl::StrCat("data_offsets [", begin, ", ", end, "] end before they begin"));
  }
  if (end > data.size()) {
    return TensorError(path, name,
                       absl::StrCat("data_offsets [", begin, ", ", end, "] reach past the ",
                                    data.size(), " data bytes of the file (truncated?)"));
  }
  uint64_t expected_bytes = elements * known->size;
  if (end - begin != expected_bytes) {
    return TensorError(path, name,
                       absl::StrCat("shape ", shape->dump(), " of ", dtype_name, " needs ",
                                    expected_bytes, " bytes but data_offsets span ", end - begin));
  }
  tensor.data = data.substr(begin, end - begin);
  *begin_out = begin;
  return tensor;
}

}  // namespace

absl::string_view DTypeName(DType dtype) {
  for (const DTypeEntry& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  for (const DTypeEntry& entry : kDTypes) {
    if (entry.dtype == dtype) return entry.size;
  }
  return 0;
}

int64_t TensorInfo::num_elements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

absl::StatusOr<std::vector<TensorInfo>> SafetensorsFile::ParseTensors(
    absl::string_view bytes, absl::string_view path, std::map<std::string, std::string>* metadata) {
  if (bytes.size() < 8) {
    return HeaderError(path, absl::StrCat("file is ", bytes.size(),
                                          " bytes, too short for the 8-byte header length"));
  }
  uint64_t header_size = ReadLittleEndian64(bytes.data());
  if (header_size > kMaxHeaderBytes) {
    return HeaderError(path, absl::StrCat("header length ", header_size, " exceeds the limit of ",
                                          kMaxHeaderBytes, " bytes"));
  }
  if (header_size > bytes.size() - 8) {
    return HeaderError(path, absl::StrCat("header length ", header_size, " is longer than the ",
                                          bytes.size() - 8, " bytes after it (truncated file?)"));
  }
  absl::string_view header = bytes.substr(8, header_size);
  absl::string_view data = bytes.substr(8 + header_size);

  RATTN_ASSIGN_OR_RETURN(json root, ParseJsonStrict(header, absl::StrCat(path, ": header")));
  if (!root.is_object()) return HeaderError(path, "header is not a JSON object");

  std::vector<TensorInfo> tensors;
  std::vector<std::pair<uint64_t, size_t>> starts;  // (begin offset, index into tensors)
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return HeaderError(path, "__metadata__ is not a JSON object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          return HeaderError(path, "__metadata__ value for '" + key + "' is not a string");
        }
        if (metadata != nullptr) (*metadata)[key] = value.get<std::string>();
      }
      continue;
    }
    if (name.empty()) return HeaderError(path, "a tensor has an empty name");
    uint64_t begin = 0;
    RATTN_ASSIGN_OR_RETURN(TensorInfo tensor, ParseEntry(name, entry, data, path, &begin));
    starts.emplace_back(begin, tensors.size());
    tensors.push_back(std::move(tensor));
  }

  // Sorted by start, each tensor must begin exactly where the previous one ended: no overlap,
  // no hole, and the last one ends at the end of the file.
  std::sort(starts.begin(), starts.end());
  uint64_t expected_begin = 0;
  const TensorInfo* previous = nullptr;
  for (const auto& [begin, index] : starts) {
    const TensorInfo& tensor = tensors[index];
    if (begin < expected_begin) {
      return TensorError(path, tensor.name,
                         absl::StrCat("data at offset ", begin, " overlaps tensor '",
                                      previous->name, "' which ends at ", expected_begin));
    }
    if (begin > expected_begin) {
      return TensorError(path, tensor.name,
                         absl::StrCat("data at offset ", begin, " leaves a hole of ",
                                      begin - expected_begin, " unused bytes before it"));
    }
    expected_begin = begin + tensor.data.size();
    previous = &tensor;
  }
  if (expected_begin != data.size()) {
    return HeaderError(path, absl::StrCat("tensor data ends at offset ", expected_begin,
                                          " but the file has ", data.size(), " data bytes (",
                                          data.size() - expected_begin, " trailing bytes)"));
  }
  return tensors;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  RATTN_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path));
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile(std::move(mapped)));
  RATTN_ASSIGN_OR_RETURN(file->tensors_,
                         ParseTensors(file->file_->bytes(), path, &file->metadata_));
  return file;
}

const TensorInfo* SafetensorsFile::Find(absl::string_view name) const {
  for (const TensorInfo& tensor : tensors_) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

absl::Status ConvertToFloat(const TensorInfo& tensor, std::span<float> out) {
  size_t count = static_cast<size_t>(tensor.num_elements());
  if (out.size() != count) {
    return absl::InternalError(absl::StrCat("tensor '", tensor.name, "' has ", count,
                                            " elements, output holds ", out.size()));
  }
  const char* bytes = tensor.data.data();
  switch (tensor.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), bytes, count * sizeof(float));
      return absl::OkStatus();
    case DType::kF16:
    case DType::kBF16: {
      bool is_bf16 = tensor.dtype == DType::kBF16;
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, bytes + 2 * i, 2);
        out[i] = is_bf16 ? Bf16ToFloat(bits) : F16ToFloat(bits);
      }
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' has dtype ",
                                                     DTypeName(tensor.dtype),
                                                     "; expected F32, F16 or BF16"));
  }
}

absl::Status WriteSafetensors(const std::string& path, std::span<const TensorToWrite> tensors,
                              const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite& tensor : tensors) {
    uint64_t expected = DTypeSize(tensor.dtype);
    for (int64_t dim : tensor.shape) expected *= static_cast<uint64_t>(dim);
    if (expected != tensor.data.size()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "': shape needs ",
                                                     expected, " bytes, given ",
                                                     tensor.data.size()));
    }
    header[tensor.name] = {{"dtype", std::string(DTypeName(tensor.dtype))},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.data.size()}}};
    offset += tensor.data.size();
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // keeps tensor data 8-aligned

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create"));
  char length[8];
  uint64_t header_size = header_text.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((header_size >> (8 * i)) & 0xff);
  out.write(length, 8);
  out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  for (const TensorToWrite& tensor : tensors) {
    out.write(tensor.data.data(), static_cast<std::streamsize>(tensor.data.size()));
  }
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace rattn::model
