// The server's flags: sizes, budgets and every range check, each refusal naming its flag.
#include "server/server_options.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace rattn::server {
namespace {

using ::testing::HasSubstr;

TEST(ParseByteSizeTest, ReadsSuffixesAndRefusesGarbage) {
  EXPECT_EQ(*ParseByteSize("1024"), 1024);
  EXPECT_EQ(*ParseByteSize("4KiB"), 4096);
  EXPECT_EQ(*ParseByteSize("16MiB"), int64_t{16} << 20);
  EXPECT_EQ(*ParseByteSize("2G"), int64_t{2} << 30);
  EXPECT_EQ(*ParseByteSize(" 3 gib "), int64_t{3} << 30);
  for (const char* bad : {"", "MiB", "-1", "1.5GiB", "12XB", "99999999999999999999"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

TEST(MemoryBudgetTest, BytesOrAFractionOfWhatIsAvailable) {
  MemoryBudget bytes = *MemoryBudget::Parse("512MiB");
  EXPECT_EQ(bytes.Resolve(int64_t{1} << 40), int64_t{512} << 20);
  MemoryBudget fraction = *MemoryBudget::Parse("0.25");
  EXPECT_EQ(fraction.Resolve(int64_t{8} << 30), int64_t{2} << 30);
  for (const char* bad : {"0.0", "1.0", "1.5", "-0.5", "1KiB", "nan", "lots"}) {
    EXPECT_FALSE(MemoryBudget::Parse(bad).ok()) << bad;
  }
}

TEST(ServerOptionsTest, EveryRangeIsCheckedAndTheFlagNamed) {
  testing::ScratchDir dir("options");
  ServerOptions valid;
  valid.model_dir = dir.path();
  ASSERT_TRUE(valid.Validate().ok()) << valid.Validate();

  struct Case {
    std::function<void(ServerOptions&)> change;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {[](ServerOptions& o) { o.model_dir = ""; }, "--model_dir"},
      {[](ServerOptions& o) { o.model_dir = "/no/such/dir"; }, "--model_dir"},
      {[](ServerOptions& o) { o.listen_address = ""; }, "--listen"},
      {[](ServerOptions& o) { o.num_threads = -1; }, "--threads"},
      {[](ServerOptions& o) { o.max_message_bytes = 10; }, "--max_message_size"},
      {[](ServerOptions& o) { o.tls_cert_file = "/etc/hostname"; }, "--tls_cert"},
      {[](ServerOptions& o) {
         o.tls_cert_file = "/no/cert.pem";
         o.tls_key_file = "/no/key.pem";
       },
       "--tls_cert"},
      {[](ServerOptions& o) { o.auth_token = "has space"; }, "--auth_token_file"},
      {[](ServerOptions& o) { o.block_size = 0; }, "--block_size"},
      {[](ServerOptions& o) { o.max_sequences = 0; }, "--max_sequences"},
      {[](ServerOptions& o) { o.max_tokens_per_step = 0; }, "--max_tokens_per_step"},
      {[](ServerOptions& o) { o.max_waiting = 0; }, "--max_waiting"},
      {[](ServerOptions& o) { o.drain_timeout = absl::Seconds(-1); }, "--drain_timeout"},
      {[](ServerOptions& o) { o.max_connection_age = absl::Milliseconds(10); },
       "--max_connection_age"},
      {[](ServerOptions& o) { o.stall_timeout = absl::ZeroDuration(); }, "--stall_timeout"},
  };
  for (const Case& c : cases) {
    ServerOptions options = valid;
    c.change(options);
    absl::Status status = options.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.flag));
  }
  EXPECT_EQ(*ParseBackendKind("cuda"), BackendKind::kCuda);
  EXPECT_THAT(std::string(ParseBackendKind("tpu").status().message()), HasSubstr("--backend"));
}

}  // namespace
}  // namespace rattn::server
