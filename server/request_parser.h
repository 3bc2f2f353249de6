// Parses request messages in rattn rather than in gRPC. gRPC's callback API answers a request
// it cannot parse with UNIMPLEMENTED and no message; protobuf refuses, above all, proto3 string
// fields that are not UTF-8. Parsed here, such a request gets INVALID_ARGUMENT naming the field.
#ifndef RATTN_SERVER_REQUEST_PARSER_H_
#define RATTN_SERVER_REQUEST_PARSER_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"

namespace rattn::server {

// Parses `bytes` into `message`. INVALID_ARGUMENT when protobuf refuses them: naming the first
// string field that is not UTF-8 (as "stopping.stop[2]: is not valid UTF-8 (byte 5)"), else
// saying the bytes are not a message of that type.
absl::Status ParseRequest(absl::string_view bytes, google::protobuf::Message* message);

// The same for a gRPC request payload.
absl::Status ParseRequest(const grpc::ByteBuffer& payload, google::protobuf::Message* message);

// Routes protobuf's own log lines to rattn's log at DEBUG (FATAL ones at ERROR): protobuf logs
// an ERROR line for every string field that is not UTF-8, which would let any client fill the
// log. Call once at start, before other threads run (protobuf's handler is process-wide).
void RouteProtobufLogs();

}  // namespace rattn::server

#endif  // RATTN_SERVER_REQUEST_PARSER_H_
