// The one place an absl::Status becomes a grpc::Status. Abseil's codes are gRPC's codes, one to
// one, so the conversion keeps the code and the message.
#ifndef RATTN_SERVER_STATUS_UTIL_H_
#define RATTN_SERVER_STATUS_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace rattn::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

// The lower-case name of a code, for metric labels ("invalid_argument").
std::string CodeLabel(absl::StatusCode code);

}  // namespace rattn::server

#endif  // RATTN_SERVER_STATUS_UTIL_H_
