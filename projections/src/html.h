// Helpers for the self-contained HTML pages the projections render (the proof-of-deletion
// report, the register description, the record of processing activities, the data subject's
// access page): escaping, one shared, printable stylesheet, the policy's texts in the page's
// language and readable times. Private to projections/.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/register_description.h"
#include "kirjuri/schemas/policy.capnp.h"
#include "kirjuri/time.h"

namespace kirjuri::html {

// The text of `t` in `lang`; the other language's if that one is missing.
inline std::string Pick(schema::LocalText::Reader t, Lang lang) {
  std::string fi = t.getFi(), en = t.getEn();
  if (lang == Lang::kFi) return fi.empty() ? en : fi;
  return en.empty() ? fi : en;
}

// The titles of `terms` in `lang`, in the policy's order.
inline std::vector<std::string> TermTitles(capnp::List<schema::Term>::Reader terms, Lang lang) {
  std::vector<std::string> out;
  for (auto t : terms) out.push_back(Pick(t.getTitle(), lang));
  return out;
}

// A fixed heading or phrase of a page in `lang`.
inline std::string T(Lang lang, std::string_view fi, std::string_view en) {
  return std::string(lang == Lang::kFi ? fi : en);
}

// `micros` (Unix time, UTC) as a reader writes it: "3 March 2026, 14:05 UTC" in English,
// "3.3.2026 klo 14.05 UTC" in Finnish; the RFC 3339 text if the time is out of range.
inline std::string ReadableTime(int64_t micros, Lang lang) {
  std::time_t t = static_cast<std::time_t>(micros / 1000000 - (micros % 1000000 < 0 ? 1 : 0));
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return FormatRfc3339(micros);
  static const char* const kMonths[] = {"January",   "February", "March",    "April",
                                        "May",       "June",     "July",     "August",
                                        "September", "October",  "November", "December"};
  char text[96];
  if (lang == Lang::kFi) {
    std::snprintf(text, sizeof(text), "%d.%d.%d klo %02d.%02d UTC", tm.tm_mday, tm.tm_mon + 1,
                  tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
  } else {
    std::snprintf(text, sizeof(text), "%d %s %d, %02d:%02d UTC", tm.tm_mday, kMonths[tm.tm_mon],
                  tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
  }
  return text;
}

// A <time> element showing ReadableTime, with the exact RFC 3339 value as its datetime.
inline std::string TimeElement(int64_t micros, Lang lang) {
  return "<time datetime=\"" + FormatRfc3339(micros) + "\">" + ReadableTime(micros, lang) +
         "</time>";
}

// `s` with the five characters that are special in HTML text and attribute values escaped.
// UTF-8 passes through unchanged.
inline std::string Esc(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// The stylesheet of every page: readable on screen, clean on paper.
inline constexpr std::string_view kCss = R"css(
:root { color-scheme: light; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: #1b1b1b; background: #f4f5f7; margin: 0; }
main { max-width: 52rem; margin: 2rem auto; background: #fff; padding: 2rem 2.5rem;
       border: 1px solid #d8dbe0; border-radius: 6px; }
h1 { font-size: 1.8rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; padding-bottom: .25rem; border-bottom: 1px solid #d8dbe0; }
p.lead { color: #444; margin-top: 0; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
code { background: #f0f1f3; padding: 0 .2em; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: #f0f1f3; padding: .75rem 1rem; border-radius: 4px; white-space: pre-wrap;
      overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; vertical-align: top; padding: .4rem .6rem; border: 1px solid #d8dbe0; }
th { background: #f0f1f3; }
td.key { font-size: .85em; }
.status { display: inline-block; padding: .1rem .6rem; border-radius: 3px; font-weight: 600; }
.ok { background: #e3f4e8; color: #14532d; border: 1px solid #86c79a; }
.bad { background: #fde8e8; color: #7f1d1d; border: 1px solid #e09a9a; }
dl { display: grid; grid-template-columns: 12rem 1fr; gap: .4rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; min-width: 0; }
footer { margin-top: 2rem; font-size: .85rem; color: #555; border-top: 1px solid #d8dbe0; padding-top: .75rem; }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { margin: 0; border: 0; padding: 0; max-width: none; }
  h2 { break-after: avoid; }
  table, pre, dl { break-inside: avoid; }
}
)css";

}  // namespace kirjuri::html
