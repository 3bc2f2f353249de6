// Requests parsed by rattn: field-level errors for strings that are not UTF-8.
#include "server/request_parser.h"

#include <gtest/gtest.h>

#include "rattn/v1/rattn.pb.h"

namespace rattn::server {
namespace {

// The wire bytes of `message`; protobuf's C++ serializer writes invalid UTF-8 as given (and logs).
std::string Bytes(const google::protobuf::Message& message) { return message.SerializeAsString(); }

TEST(RequestParserTest, ParsesAValidRequest) {
  v1::GenerateRequest sent;
  sent.set_text("héllo");
  sent.mutable_stopping()->add_stop("x");
  v1::GenerateRequest parsed;
  ASSERT_TRUE(ParseRequest(Bytes(sent), &parsed).ok());
  EXPECT_EQ(parsed.text(), "héllo");
  EXPECT_EQ(parsed.stopping().stop(0), "x");
}

TEST(RequestParserTest, NamesTheFirstStringThatIsNotUtf8) {
  v1::GenerateRequest sent;
  sent.set_text("fine");
  sent.mutable_stopping()->add_stop("ok");
  sent.mutable_stopping()->add_stop("also ok");
  sent.mutable_stopping()->add_stop("bad \xe2\x82");
  v1::GenerateRequest parsed;
  absl::Status status = ParseRequest(Bytes(sent), &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "stopping.stop[2]: is not valid UTF-8 (byte 4)");

  v1::TokenizeRequest tokenize;
  tokenize.set_text("\xff");
  v1::TokenizeRequest parsed_tokenize;
  EXPECT_EQ(ParseRequest(Bytes(tokenize), &parsed_tokenize).message(),
            "text: is not valid UTF-8 (byte 0)");
}

TEST(RequestParserTest, BytesThatAreNoMessageSaySo) {
  v1::GenerateRequest parsed;
  // A length-delimited field (2) whose length runs past the end.
  absl::Status status = ParseRequest(std::string("\x12\x7f"
                                                 "abc",
                                                 5),
                                     &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "the request is not a valid rattn.v1.GenerateRequest message");
}

}  // namespace
}  // namespace rattn::server
