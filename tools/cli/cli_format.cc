// How rattn-cli shows results to a person.
#include "tools/cli/cli_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace rattn::cli {
namespace {

// Width of the name column of the info and load listings.
constexpr int kNameWidth = 22;

void AddField(std::string& out, absl::string_view name, absl::string_view value) {
  absl::StrAppendFormat(&out, "%-*s %s\n", kNameWidth, name, value);
}

// "rattention x3, full_attention" for {rattention, rattention, rattention, full_attention}.
std::string RunLengthLayers(const google::protobuf::RepeatedPtrField<std::string>& layers) {
  std::vector<std::string> runs;
  for (int i = 0; i < layers.size();) {
    int end = i;
    while (end < layers.size() && layers[end] == layers[i]) ++end;
    runs.push_back(end - i == 1 ? layers[i] : absl::StrCat(layers[i], " x", end - i));
    i = end;
  }
  return absl::StrJoin(runs, ", ");
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 20)) return absl::StrFormat("%.1f MiB", bytes / 1048576.0);
  if (bytes >= 1024) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  return absl::StrCat(bytes, " B");
}

}  // namespace

std::string FinishReasonName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    case v1::FINISH_REASON_EOS:
      return "eos";
    case v1::FINISH_REASON_CANCELLED:
      return "cancelled";
    case v1::FINISH_REASON_ERROR:
      return "error";
    default:
      return "unspecified";
  }
}

std::string FormatSeconds(double seconds) {
  if (seconds < 1e-3) return absl::StrFormat("%.0f us", seconds * 1e6);
  if (seconds < 1.0) return absl::StrFormat("%.1f ms", seconds * 1e3);
  return absl::StrFormat("%.2f s", seconds);
}

std::string FormatSummaryLine(const GenerateSummary& summary) {
  std::vector<std::string> reasons;
  for (v1::FinishReason reason : summary.finish_reasons) {
    reasons.push_back(FinishReasonName(reason));
  }
  std::string line = absl::StrCat("request ", summary.request_id, ": finish ",
                                  reasons.empty() ? "-" : absl::StrJoin(reasons, ","), ", prompt ",
                                  summary.prompt_tokens, " tokens, completion ",
                                  summary.completion_tokens, " tokens, TTFT ");
  if (summary.ttft_seconds.has_value()) {
    absl::StrAppend(&line, FormatSeconds(*summary.ttft_seconds),
                    summary.ttft_from_server ? " (server)" : "");
  } else {
    absl::StrAppend(&line, "-");
  }
  absl::StrAppend(&line, ", total ", FormatSeconds(summary.e2e_seconds));
  if (summary.e2e_seconds > 0) {
    absl::StrAppendFormat(&line, ", %.1f tokens/s",
                          summary.completion_tokens / summary.e2e_seconds);
  }
  return line;
}

std::string FormatModelInfo(const v1::ModelInfo& info) {
  std::string out;
  AddField(out, "model", info.model_name());
  AddField(out, "layers",
           absl::StrCat(info.layer_types_size(), " (", RunLengthLayers(info.layer_types()), ")"));
  AddField(out, "sliding window", absl::StrCat(info.sliding_window()));
  AddField(out, "hidden size", absl::StrCat(info.hidden_size()));
  AddField(out, "attention heads",
           absl::StrCat(info.num_attention_heads(), " query, ", info.num_key_value_heads(),
                        " key/value, dim ", info.head_dim()));
  AddField(out, "rla feature map", info.rla_feature_map());
  AddField(out, "vocabulary", absl::StrCat(info.vocab_size(), " (", info.tokenizer(), ")"));
  AddField(out, "max context", absl::StrCat(info.max_context()));
  AddField(out, "cache block size", absl::StrCat(info.block_size()));
  AddField(out, "weights dtype", info.dtype());
  AddField(out, "backend", info.backend());
  AddField(out, "server version", info.version());
  return out;
}

std::string FormatLoadInfo(const v1::LoadInfo& load) {
  std::string out;
  AddField(out, "serving", load.serving() ? "yes" : "no");
  AddField(out, "waiting", absl::StrCat(load.waiting()));
  AddField(out, "running", absl::StrCat(load.running()));
  AddField(out, "preempted",
           absl::StrCat(load.preempted(), " (", load.preemptions(), " preemptions since start)"));
  AddField(out, "generated tokens/s", absl::StrFormat("%.1f", load.tokens_per_second()));
  AddField(out, "server version", load.version());
  for (const v1::PoolLoad& pool : load.pools()) {
    AddField(out, absl::StrCat("pool ", pool.name()),
             absl::StrFormat("%d / %d used (%.1f%%), %s each", pool.used(), pool.total(),
                             100.0 * pool.usage_ratio(), FormatBytes(pool.unit_bytes())));
  }
  return out;
}

std::string FormatLogprobTable(uint32_t sample,
                               const google::protobuf::RepeatedPtrField<v1::TokenLogprob>& logprobs,
                               const TokenText& token_text) {
  std::string out = absl::StrFormat("sample %d logprobs\n%5s %8s  %-16s %9s  %s\n", sample, "pos",
                                    "id", "text", "logprob", "alternatives");
  for (int i = 0; i < logprobs.size(); ++i) {
    const v1::TokenLogprob& token = logprobs[i];
    std::vector<std::string> alternatives;
    for (const v1::TopLogprob& top : token.top()) {
      alternatives.push_back(absl::StrFormat("%s(%d)=%.3f", token_text(top.token_id()),
                                             top.token_id(), top.logprob()));
    }
    absl::StrAppendFormat(&out, "%5d %8d  %-16s %9.4f  %s\n", i, token.token_id(),
                          token_text(token.token_id()), token.logprob(),
                          absl::StrJoin(alternatives, " "));
  }
  return out;
}

std::string QuoteTokenText(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\x%02x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace rattn::cli
