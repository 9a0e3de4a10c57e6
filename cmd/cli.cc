#include "cli.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "kirjuri/crypto.h"
#include "kirjuri/json.h"
#include "kirjuri/note.h"
#include "kirjuri/time.h"

namespace kirjuri::cli {

namespace {

// printf into a string.
__attribute__((format(printf, 1, 2))) std::string Printf(const char* format, ...) {
  va_list args, again;
  va_start(args, format);
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, format, again);
  va_end(again);
  return out;
}

}  // namespace

int Fail(const Status& status) {
  std::string msg = status.message();
  for (char& c : msg) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "kirjuri: %s\n", msg.c_str());
  return status.IsCorruption() || status.IsInvalidArgument() ? 1 : 2;
}

int FailAsked(const Status& status) {
  const bool refused = status.IsNotFound() || status.code() == Status::Code::kFailedPrecondition;
  return Fail(refused ? Status::InvalidArgument(status.message()) : status);
}

int PrintCheckpoint(const Globals& g, std::string_view note) {
  if (!g.json) {
    std::fwrite(note.data(), 1, note.size(), stdout);
    return 0;
  }
  Checkpoint c;
  const size_t blank = note.find("\n\n");
  if (blank == std::string_view::npos || !ParseCheckpointBody(note.substr(0, blank + 1), &c).ok()) {
    return Fail(Status::Corruption("the checkpoint is not a checkpoint note"));
  }
  std::printf("%s\n", JsonWriter()
                          .String("origin", c.origin)
                          .Number("size", c.size)
                          .String("root", HexEncode(c.root))
                          .String("note", note)
                          .Finish()
                          .c_str());
  return 0;
}

const CLI::Validator& Decimal() {
  static const CLI::Validator decimal(
      [](std::string& text) -> std::string {
        uint64_t value = 0;
        const char* end = text.data() + text.size();
        auto [stop, error] = std::from_chars(text.data(), end, value);  // no sign, base 10
        if (error == std::errc::result_out_of_range) return "'" + text + "' is too large";
        if (text.empty() || error != std::errc() || stop != end) {
          return "'" + text + "' is not a decimal number (digits only)";
        }
        text = std::to_string(value);
        return "";
      },
      "DECIMAL");
  return decimal;
}

namespace {
Status Open(const Globals& g, std::unique_ptr<Ledger>* out, bool check_on_open, bool read_only) {
  // A command with a --server form has returned before opening anything local: this one would
  // otherwise run on --data while its user believes it ran on the server.
  if (!g.server.empty()) {
    return Status::InvalidArgument("this command does not run over --server; run it where the "
                                   "data directory is (--data)");
  }
  OpenOptions options;
  options.check_on_open = check_on_open;
  options.read_only = read_only;
  options.master_key_file = g.master_key;
  return Ledger::Open(g.data, options, out);
}
}  // namespace

Status OpenLedger(const Globals& g, std::unique_ptr<Ledger>* out, bool check_on_open) {
  return Open(g, out, check_on_open, /*read_only=*/false);
}

Status OpenLedgerToRead(const Globals& g, std::unique_ptr<Ledger>* out, bool check_on_open) {
  Status s = Open(g, out, check_on_open, /*read_only=*/true);
  if (s.code() != Status::Code::kFailedPrecondition) return s;
  // In use by another process, or one-time work to do first (an older ledger, an interrupted
  // erasure): opened writable, as any command would; if that fails too, the first reason.
  return Open(g, out, check_on_open, /*read_only=*/false).ok() ? Status::Ok() : s;
}

Status ParseTimeOption(const std::string& text, const char* flag, int64_t* micros) {
  return text.empty() ? Status::Ok() : ParseRfc3339(text, micros).Prefixed(flag);
}

Status OpenViews(const Globals& g, Ledger* ledger, std::unique_ptr<Views>* out) {
  Progress progress("catching up the views");
  return Views::Open(ledger, g.data, [&](uint64_t done, uint64_t total) {
    progress.Update(done, total);
  }, out);
}

void CatchUpViews(Views& views) {
  Progress progress("updating the views");
  Status s = views.CatchUp([&](uint64_t done, uint64_t total) { progress.Update(done, total); });
  if (!s.ok()) {
    std::fprintf(stderr, "kirjuri: warning: the log is written, but the views could not catch up "
                 "(they will when next opened): %s\n", s.message().c_str());
  }
}

std::string LocalActor(const Globals& g) {
  if (!g.actor.empty()) return g.actor;
  const char* login = getlogin();
  if (login == nullptr || *login == '\0') login = std::getenv("USER");
  std::string actor = "cli:" + std::string(login ? login : "");
  bool ok = actor.size() > 4 && actor.size() <= 64;
  for (char c : actor) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                std::string_view("-_.:/#").find(c) != std::string_view::npos);
  }
  return ok ? actor : "cli:local";
}

Status LogLocalAccess(const Globals& g, Ledger& ledger, std::vector<AccessRecord> records) {
  if (records.empty()) return Status::Ok();
  const std::string actor = LocalActor(g);
  for (AccessRecord& r : records) {
    r.actor = actor;
    r.role = "local";
    r.via = "cli";
  }
  return ledger.RecordAccesses(records).Prefixed(
      "nothing is shown: the read could not be written to the access log");
}

std::string EnvelopeRow(const EventView& e) {
  auto env = e.signed_event.getEvent().getEnvelope();
  auto subj = env.getSubject();
  return Printf("%6llu  %s  %-8s %s  %-18s %-9s %-22s %-19s %-15s %s",
                static_cast<unsigned long long>(e.seq),
                FormatRfc3339(env.getRecordedAtMicros()).c_str(), env.getRegister().cStr(),
                HexEncode({subj.begin(), subj.size()}).c_str(),
                EventTypeName(env.getType()).c_str(), env.getCategory().cStr(),
                env.getPurpose().cStr(), env.getBasis().cStr(), env.getSource().cStr(),
                env.getActor().cStr());
}

Progress::Progress(std::string what) : what_(std::move(what)), tty_(isatty(STDERR_FILENO)) {}

Progress::~Progress() {
  if (shown_) std::fprintf(stderr, "\r\033[K");
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!tty_) return;
  shown_ = true;
  if (total > 0) {
    std::fprintf(stderr, "\r%s %llu/%llu (%llu%%)\033[K", what_.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 static_cast<unsigned long long>(done * 100 / total));
  } else {
    std::fprintf(stderr, "\r%s %llu\033[K", what_.c_str(), static_cast<unsigned long long>(done));
  }
  std::fflush(stderr);
}

}  // namespace kirjuri::cli
