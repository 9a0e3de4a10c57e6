// Time as Kirjuri stores and prints it: Unix microseconds (UTC) inside events, RFC 3339 outside.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kirjuri/status.h"

namespace kirjuri {

int64_t NowMicros();

// "2026-03-03T14:05:00Z", "2026-03-03T16:05:00.25+02:00", "2026-03-03" (midnight UTC).
// InvalidArgument naming the text otherwise.
Status ParseRfc3339(std::string_view text, int64_t* micros);

// "2026-03-03T14:05:00.250000Z" (microseconds shown only when non-zero).
std::string FormatRfc3339(int64_t micros);

}  // namespace kirjuri
