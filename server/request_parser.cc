// Request parsing with field-level errors; see request_parser.h.
#include "server/request_parser.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/utf8.h"
#include "engine/util/logging.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/unknown_field_set.h"

namespace rattn::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// Nested messages deeper than this are not searched (requests nest two levels).
constexpr int kMaxDepth = 8;

// The path and problem of the first string field of `type` in `bytes` that is not UTF-8;
// nullopt when there is none (or `bytes` do not even parse as untyped fields).
std::optional<std::string> FindInvalidString(absl::string_view bytes, const Descriptor& type,
                                             const std::string& prefix, int depth) {
  UnknownFieldSet fields;
  if (depth > kMaxDepth || !fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return std::nullopt;
  }
  std::map<int, int> seen;  // occurrences so far of each field number, for repeated fields
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    const int occurrence = seen[field.number()]++;
    const FieldDescriptor* descriptor = type.FindFieldByNumber(field.number());
    if (descriptor == nullptr || field.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    std::string path = absl::StrCat(prefix, descriptor->name());
    if (descriptor->is_repeated()) absl::StrAppend(&path, "[", occurrence, "]");
    const std::string& value = field.length_delimited();
    if (descriptor->type() == FieldDescriptor::TYPE_STRING) {
      if (std::optional<size_t> bad = engine::FindInvalidUtf8(value)) {
        return absl::StrCat(path, ": is not valid UTF-8 (byte ", *bad, ")");
      }
    } else if (descriptor->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (auto found = FindInvalidString(value, *descriptor->message_type(),
                                         absl::StrCat(path, "."), depth + 1)) {
        return found;
      }
    }
  }
  return std::nullopt;
}

void ProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                 const std::string& message) {
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    RATTN_LOG(ERROR) << "protobuf " << filename << ":" << line << ": " << message;
  } else {
    RATTN_LOG(DEBUG) << "protobuf " << filename << ":" << line << ": " << message;
  }
}

}  // namespace

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&ProtobufLog); }

absl::Status ParseRequest(absl::string_view bytes, google::protobuf::Message* message) {
  if (message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::OkStatus();
  }
  const Descriptor& type = *message->GetDescriptor();
  if (std::optional<std::string> problem = FindInvalidString(bytes, type, "", 0)) {
    return absl::InvalidArgumentError(*problem);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the request is not a valid ", type.full_name(), " message"));
}

absl::Status ParseRequest(const grpc::ByteBuffer& payload, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!payload.Dump(&slices).ok()) {
    return absl::InvalidArgumentError("the request payload could not be read");
  }
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return ParseRequest(bytes, message);
}

}  // namespace rattn::server
