// safetensors writing and reading: a round trip of every float dtype, metadata, and conversion.
#include "engine/model/safetensors.h"

#include <cstring>
#include <vector>

#include "engine/util/float16.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn::model {
namespace {

TEST(SafetensorsTest, RoundTripsTensorsAndMetadata) {
  testing::ScratchDir dir("files");
  std::vector<float> f32 = {1.5f, -2.25f, 3.0f, 0.0f, 0x1p-10f, -7.0f};
  std::vector<uint16_t> bf16, f16;
  for (float v : f32) {
    bf16.push_back(FloatToBf16(v));
    f16.push_back(FloatToF16(v));
  }
  std::vector<int32_t> ids = {7, -1, 3};
  auto bytes = [](const auto& v) {
    return absl::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(v[0]));
  };
  std::vector<TensorToWrite> tensors = {{"a", DType::kF32, {2, 3}, bytes(f32)},
                                        {"b", DType::kBF16, {6}, bytes(bf16)},
                                        {"c", DType::kF16, {3, 1, 2}, bytes(f16)},
                                        {"ids", DType::kI32, {3}, bytes(ids)},
                                        {"empty", DType::kF32, {0, 4}, ""}};
  ASSERT_TRUE(WriteSafetensors(dir.File("x.safetensors"), tensors, {{"k", "v"}}).ok());

  auto file = SafetensorsFile::Open(dir.File("x.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("k"), "v");
  ASSERT_EQ((*file)->tensors().size(), 5u);
  for (const char* name : {"a", "b", "c"}) {
    const TensorInfo* t = (*file)->Find(name);
    ASSERT_NE(t, nullptr);
    std::vector<float> out(t->num_elements());
    ASSERT_TRUE(ConvertToFloat(*t, out).ok());
    EXPECT_EQ(out, f32) << name;  // every value is exact in all three formats
  }
  const TensorInfo* id_tensor = (*file)->Find("ids");
  ASSERT_NE(id_tensor, nullptr);
  EXPECT_EQ(id_tensor->dtype, DType::kI32);
  std::vector<float> out(3);
  EXPECT_FALSE(ConvertToFloat(*id_tensor, out).ok()) << "integers are not weights";
  EXPECT_EQ((*file)->Find("empty")->num_elements(), 0);
  EXPECT_EQ((*file)->Find("missing"), nullptr);
}

TEST(SafetensorsTest, RefusesWritingMismatchedBytes) {
  testing::ScratchDir dir("files");
  std::vector<TensorToWrite> tensors = {{"a", DType::kF32, {2, 3}, "12345"}};
  EXPECT_FALSE(WriteSafetensors(dir.File("x.safetensors"), tensors).ok());
}

TEST(SafetensorsTest, ParsesFromBytesWithoutAFile) {
  std::string header = R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(header.size());
  bytes += header + "abcd";
  auto tensors = SafetensorsFile::ParseTensors(bytes, "memory", nullptr);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 1u);
  EXPECT_EQ((*tensors)[0].data, "abcd");
}

}  // namespace
}  // namespace rattn::model
