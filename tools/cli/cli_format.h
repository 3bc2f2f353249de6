// How rattn-cli shows results to a person: the generation summary line, model information, load,
// and per-token logprob tables. Pure formatting; nothing here talks to the server.
#ifndef RATTN_TOOLS_CLI_CLI_FORMAT_H_
#define RATTN_TOOLS_CLI_CLI_FORMAT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "rattn/v1/rattn.pb.h"

namespace rattn::cli {

// "length", "stop", "eos", "cancelled", "error"; "unspecified" otherwise.
std::string FinishReasonName(v1::FinishReason reason);

// "850 us", "12.3 ms", "1.52 s".
std::string FormatSeconds(double seconds);

struct GenerateSummary {
  std::string request_id;
  std::vector<v1::FinishReason> finish_reasons;  // by sample index
  uint32_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;      // of every sample
  std::optional<double> ttft_seconds;  // unset when no token came
  bool ttft_from_server = false;       // measured by the server (unary calls), not the client
  double e2e_seconds = 0;              // request sent -> last response received
};

// One line: request id, finish reasons, token counts, TTFT, end-to-end time and tokens/s, which
// is completion tokens (of every sample) / e2e_seconds.
std::string FormatSummaryLine(const GenerateSummary& summary);

// One "name  value" line per field, layer types run-length encoded.
std::string FormatModelInfo(const v1::ModelInfo& info);

// Queue counters, throughput, then one line per cache pool.
std::string FormatLoadInfo(const v1::LoadInfo& load);

// Maps a token id to something printable (its text, escaped).
using TokenText = std::function<std::string(int32_t)>;

// A table of one sample's tokens: position, id, text, logprob, then the alternatives as
// text(id)=logprob, most likely first.
std::string FormatLogprobTable(uint32_t sample,
                               const google::protobuf::RepeatedPtrField<v1::TokenLogprob>& logprobs,
                               const TokenText& token_text);

// Quotes `text` with C-style escapes for control characters, quotes and backslashes, so that a
// token like "\n" stays on its line.
std::string QuoteTokenText(const std::string& text);

}  // namespace rattn::cli

#endif  // RATTN_TOOLS_CLI_CLI_FORMAT_H_
