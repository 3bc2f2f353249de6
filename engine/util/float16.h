// Conversions between fp32 and the two 16-bit float formats found in checkpoints:
// IEEE binary16 (F16) and bfloat16 (BF16). Narrowing rounds to nearest, ties to even.
#ifndef RATTN_ENGINE_UTIL_FLOAT16_H_
#define RATTN_ENGINE_UTIL_FLOAT16_H_

#include <bit>
#include <cstdint>

namespace rattn {

inline float Bf16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

inline uint16_t FloatToBf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

inline float F16ToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) {  // infinity or NaN
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);
    // Subnormal: value = mantissa * 2^-24, exact in fp32.
    float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

inline uint16_t FloatToF16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // rounds to or beyond infinity
  if (magnitude < 0x38800000u) {  // below the smallest normal F16: subnormal or zero
    float scaled = std::bit_cast<float>(magnitude) * 0x1p24f;  // exact; in units of 2^-24
    // Round half to even on the integer part.
    uint32_t whole = static_cast<uint32_t>(scaled);
    float fraction = scaled - static_cast<float>(whole);
    if (fraction > 0.5f || (fraction == 0.5f && (whole & 1u))) ++whole;
    return sign | static_cast<uint16_t>(whole);
  }
  uint32_t rounding = 0xfffu + ((magnitude >> 13) & 1u);
  magnitude += rounding;
  return sign | static_cast<uint16_t>(((magnitude >> 13) - (112u << 10)) & 0x7fffu);
}

}  // namespace rattn

#endif  // RATTN_ENGINE_UTIL_FLOAT16_H_
