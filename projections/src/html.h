// Helpers for the self-contained HTML pages the projections render (the proof-of-deletion
// report, the register description, the record of processing activities): escaping and one
// shared, printable stylesheet. Private to projections/.
#pragma once

#include <string>
#include <string_view>

namespace kirjuri::html {

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
