// rattn-cli generate: one Generate (streaming) or GenerateUnary call. The generated text goes to
// stdout; the summary line and, when logprobs were asked for, one logprob table per sample go to
// stderr after the call.
//
// Output of several samples (n > 1): each sample's text is held until the call ends, then
// printed in index order under a line "--- sample I (FINISH_REASON) ---". A single sample's text
// is streamed as it arrives, flushed per chunk.
#ifndef RATTN_TOOLS_CLI_GENERATE_COMMAND_H_
#define RATTN_TOOLS_CLI_GENERATE_COMMAND_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "rattn/v1/rattn.grpc.pb.h"
#include "tools/common/grpc_client.h"

namespace rattn::cli {

struct GenerateOptions {
  v1::GenerateRequest request;  // complete: prompt, sampling, stopping, logprobs, n
  bool unary = false;           // GenerateUnary instead of the streaming Generate
  absl::Duration timeout = absl::InfiniteDuration();
};

// Returns the call's status; text received before a failure has already been written.
absl::Status RunGenerate(v1::RattnService::Stub& stub, const tools::ClientOptions& client,
                         const GenerateOptions& options);

}  // namespace rattn::cli

#endif  // RATTN_TOOLS_CLI_GENERATE_COMMAND_H_
