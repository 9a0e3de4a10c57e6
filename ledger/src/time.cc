#include "kirjuri/time.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace kirjuri {
namespace {

// Reads exactly `n` digits at text[*pos], advancing *pos.
bool ReadDigits(std::string_view text, size_t* pos, int n, int* value) {
  if (*pos + n > text.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *value = v;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size()) return false;
  char got = text[*pos];
  if (got != c && !(c == 'T' && (got == 't' || got == ' '))) return false;
  ++*pos;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int DaysInMonth(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

int64_t NowMicros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

Status ParseRfc3339(std::string_view text, int64_t* micros) {
  auto bad = [&] {
    // The text is not quoted back: a misplaced value could be personal data.
    return Status::InvalidArgument("not an RFC 3339 time (e.g. 2026-03-03T14:05:00Z)");
  };
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, &pos, 4, &year) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &month) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &day)) {
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return bad();
  int64_t frac_micros = 0;
  int offset_minutes = 0;
  if (pos < text.size()) {
    if (!Expect(text, &pos, 'T') || !ReadDigits(text, &pos, 2, &hour) ||
        !Expect(text, &pos, ':') || !ReadDigits(text, &pos, 2, &minute) ||
        !Expect(text, &pos, ':') || !ReadDigits(text, &pos, 2, &second)) {
      return bad();
    }
    // A leap second (60) is accepted by RFC 3339 but has no Unix time: refuse it.
    if (hour > 23 || minute > 59 || second > 59) return bad();
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      int digits = 0;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        if (digits < 6) frac_micros = frac_micros * 10 + (text[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0) return bad();
      for (int i = digits; i < 6; ++i) frac_micros *= 10;
    }
    if (pos >= text.size()) return bad();
    char z = text[pos];
    if (z == 'Z' || z == 'z') {
      ++pos;
    } else if (z == '+' || z == '-') {
      ++pos;
      int oh, om;
      if (!ReadDigits(text, &pos, 2, &oh) || !Expect(text, &pos, ':') ||
          !ReadDigits(text, &pos, 2, &om) || oh > 23 || om > 59) {
        return bad();
      }
      offset_minutes = (oh * 60 + om) * (z == '-' ? -1 : 1);
    } else {
      return bad();
    }
    if (pos != text.size()) return bad();
  }
  int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
                    static_cast<int64_t>(offset_minutes) * 60;
  *micros = seconds * 1000000 + frac_micros;
  return Status::Ok();
}

std::string FormatRfc3339(int64_t micros) {
  int64_t seconds = micros / 1000000;
  int64_t frac = micros % 1000000;
  if (frac < 0) {
    frac += 1000000;
    seconds -= 1;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  if (frac == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(frac));
  }
  return buf;
}

}  // namespace kirjuri
