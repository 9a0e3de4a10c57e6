// The `--server` client: one EzRpcClient (its own event loop) per command, a login pipelined
// into the call, the answer printed as the local command prints it with --json.
#include "remote.h"

#include <capnp/compat/json.h>
#include <capnp/ez-rpc.h>
#include <capnp/message.h>
#include <kj/exception.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>

#include "kirjuri/json.h"
#include "kirjuri/ledger.h"
#include "kirjuri/schemas/service.capnp.h"

namespace kirjuri::cli::remote {
namespace {

// The status a failed call stands for. A server error carries {"error":"…","code":N}
// (schemas/service.capnp, Errors): the client's fault (4xx: bad input, 401, 403, not found, a
// state that forbids it) is refused input, exit 1; the server's (500), I/O, exit 2. Anything
// without that body comes from the connection itself.
Status FromException(const kj::Exception& e, const std::string& server) {
  const std::string_view d(e.getDescription().cStr());
  // RPC prefixes what the server threw ("remote exception: …").
  const size_t open = d.find("{\"error\":");
  const size_t code_at = d.rfind(",\"code\":");
  if (open != std::string_view::npos && code_at != std::string_view::npos && code_at > open) {
    std::string message;
    const std::string_view quoted = d.substr(open + 9, code_at - open - 9);
    if (DecodeJsonString(quoted, &message)) {
      const int code = std::atoi(std::string(d.substr(code_at + 8)).c_str());
      if (code >= 400 && code < 500) return Status::InvalidArgument(message);
      return Status::IOError("server: " + message);
    }
  }
  return Status::IOError("rpc to " + server + ": " + std::string(d));
}

// The string-valued fields of one JSON object (the server's own answers); others are skipped.
Status StringFields(std::string_view json, std::map<std::string, std::string>* out) {
  capnp::MallocMessageBuilder message;
  auto value = message.initRoot<capnp::JsonValue>();
  try {
    capnp::JsonCodec().decodeRaw(kj::ArrayPtr<const char>(json.data(), json.size()), value);
  } catch (const kj::Exception&) {
    return Status::InvalidArgument("not JSON");
  }
  if (!value.isObject()) return Status::InvalidArgument("not a JSON object");
  for (auto field : value.getObject()) {
    if (field.getValue().isString()) {
      (*out)[field.getName().cStr()] = field.getValue().getString().cStr();
    }
  }
  return Status::Ok();
}

void PrintLine(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (text.empty() || text.back() != '\n') std::fputc('\n', stdout);
}

// Connects, logs in with g.token and runs `fn(session, wait_scope)`, which returns the exit
// code. Failures of the login surface in the first call made on the (pipelined) session.
template <typename Fn>
int WithSession(const Globals& g, Fn fn) {
  if (g.token.empty()) {
    return Fail(Status::InvalidArgument("--server needs a token: --token T or KIRJURI_TOKEN"));
  }
  try {
    capnp::EzRpcClient client(g.server);
    auto login = client.getMain<schema::Gateway>().loginRequest();
    login.setToken(g.token);
    schema::Session::Client session = login.send().getSession();
    return fn(session, client.getWaitScope());
  } catch (const kj::Exception& e) {
    return Fail(FromException(e, g.server));
  }
}

}  // namespace

int Append(const Globals& g, const std::string& text) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.appendRequest();
    request.setLines(text);
    auto response = request.send().wait(ws);
    auto appended = response.getAppended();
    for (auto a : appended) {
      SubjectId id{};
      auto bytes = a.getSubject();
      if (bytes.size() != id.size()) {
        return Fail(Status::IOError("server: a subject id of " + std::to_string(bytes.size()) +
                                    " bytes"));
      }
      std::copy(bytes.begin(), bytes.end(), id.begin());
      if (g.json) {
        std::printf("%s\n", JsonWriter()
                                .Number("seq", a.getSeq())
                                .String("subject", SubjectIdHex(id))
                                .Finish()
                                .c_str());
      } else {
        std::printf("seq %llu  subject %s\n", static_cast<unsigned long long>(a.getSeq()),
                    SubjectIdHex(id).c_str());
      }
    }
    if (!g.json) std::printf("appended %u events\n", appended.size());
    return 0;
  });
}

int Query(const Globals& g, const std::string& what, const std::string& subject,
          const std::string& as_of, const ViewFilter& filter) {
  if (what == "marketing-audience") {
    if (!subject.empty()) return Fail(Status::InvalidArgument("query " + what + " takes no ID"));
    return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
      auto request = session.marketingAudienceRequest();
      request.setAsOf(as_of);
      auto response = request.send().wait(ws);  // owns what getJson() points into
      auto json = response.getJson();
      std::fwrite(json.begin(), 1, json.size(), stdout);
      return 0;
    });
  }
  if (subject.empty()) {  // a register's list ("customers"): page after page
    if (what.size() < 2 || what.back() != 's') {
      return Fail(Status::InvalidArgument("query " + what + " needs an ID"));
    }
    constexpr uint32_t kPage = 1000;  // the most the server gives a call
    return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
      for (std::string after;;) {
        auto request = session.listSubjectsRequest();
        request.setRegister(what.substr(0, what.size() - 1));
        request.setCity(filter.city);
        request.setOrganisation(filter.organisation);
        request.setIncludeErased(filter.include_erased);
        request.setAsOf(as_of);
        request.setAfter(after);
        request.setLimit(kPage);
        auto response = request.send().wait(ws);
        const std::string_view page(response.getJson().cStr(), response.getJson().size());
        std::fwrite(page.data(), 1, page.size(), stdout);
        if (std::count(page.begin(), page.end(), '\n') < kPage) return 0;
        // Each line is a person's ToJson, which begins with the subject id.
        const size_t last = page.rfind('\n', page.size() - 2) + 1;
        constexpr std::string_view kStart = "{\"subject\":\"";
        if (page.substr(last, kStart.size()) != kStart) {
          return Fail(Status::IOError("server: a list line that does not start with the subject"));
        }
        after = page.substr(last + kStart.size(), 32);
      }
    });
  }
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.getSubjectRequest();
    request.setRegister(what);
    request.setSubject(subject);
    request.setAsOf(as_of);
    PrintLine(request.send().wait(ws).getJson().cStr());
    return 0;
  });
}

int Checkpoint(const Globals& g) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto response = session.checkpointRequest().send().wait(ws);
    auto note = response.getNote();
    return PrintCheckpoint(g, std::string_view(note.cStr(), note.size()));
  });
}

int Backup(const Globals& g) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    PrintLine(session.backupRequest().send().wait(ws).getJson().cStr());
    return 0;
  });
}

int ProveInclusion(const Globals& g, uint64_t seq, uint64_t size) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.inclusionProofRequest();
    request.setSeq(seq);
    request.setSize(size);
    PrintLine(request.send().wait(ws).getJson().cStr());
    return 0;
  });
}

int Export(const Globals& g, const std::string& subject) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.exportRequest();
    request.setSubject(subject);
    PrintLine(request.send().wait(ws).getJson().cStr());
    return 0;
  });
}

int RequestOpen(const Globals& g, const std::string& subject, const std::string& kind,
                const std::string& ref) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.openRequestRequest();
    request.setSubject(subject);
    request.setKind(kind);
    request.setRef(ref);
    PrintLine(request.send().wait(ws).getJson().cStr());
    return 0;
  });
}

int RequestList(const Globals& g, bool overdue) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto response = session.listRequestsRequest().send().wait(ws);
    const std::string_view all(response.getJson().cStr(), response.getJson().size());
    for (size_t at = 0; at < all.size();) {
      const size_t end = std::min(all.find('\n', at), all.size());
      const std::string_view line = all.substr(at, end - at);
      if (!overdue || line.find("\"overdue\":true") != std::string_view::npos) PrintLine(line);
      at = end + 1;
    }
    return 0;
  });
}

int RequestExtend(const Globals& g, const std::string& ref, unsigned months,
                  const std::string& reason) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.extendRequestRequest();
    request.setRef(ref);
    request.setMonths(months);
    request.setReason(reason);
    PrintLine(request.send().wait(ws).getJson().cStr());
    return 0;
  });
}

int RequestRefuse(const Globals& g, const std::string& ref, const std::string& reason) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.refuseRequestRequest();
    request.setRef(ref);
    request.setReason(reason);
    PrintLine(request.send().wait(ws).getJson().cStr());
    return 0;
  });
}

int RequestClose(const Globals& g, const std::string& ref, const std::string& data) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    // The request's kind and subject, from the server's list.
    auto list = session.listRequestsRequest().send().wait(ws);
    std::string kind, subject;
    const std::string_view all(list.getJson().cStr(), list.getJson().size());
    for (size_t at = 0; at < all.size() && kind.empty();) {
      const size_t end = std::min(all.find('\n', at), all.size());
      std::map<std::string, std::string> fields;
      if (Status s = StringFields(all.substr(at, end - at), &fields); !s.ok()) {
        return Fail(s.Prefixed("server: a request line"));
      }
      if (fields["ref"] == ref) {
        kind = fields["kind"];
        subject = fields["subject"];
      }
      at = end + 1;
    }
    if (kind.empty()) return Fail(Status::InvalidArgument("no request '" + ref + "'"));
    if (kind != "rectification" && !data.empty()) {
      return Fail(Status::InvalidArgument("--data is for a rectification request; '" + ref +
                                          "' asks for " + kind));
    }
    if (kind == "access") {
      auto request = session.exportRequest();
      request.setSubject(subject);
      request.setRequest(ref);
      PrintLine(request.send().wait(ws).getJson().cStr());
    } else if (kind == "erasure") {
      auto request = session.eraseRequest();
      request.setSubject(subject);
      request.setRequest(ref);
      PrintLine(request.send().wait(ws).getReportJson().cStr());
    } else {
      auto request = session.fulfilRequestRequest();
      request.setRef(ref);
      request.setBody(data);
      PrintLine(request.send().wait(ws).getJson().cStr());
    }
    return 0;
  });
}

int Erase(const Globals& g, const std::string& subject, const std::string& request_ref) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.eraseRequest();
    request.setSubject(subject);
    request.setRequest(request_ref);
    PrintLine(request.send().wait(ws).getReportJson().cStr());
    return 0;
  });
}

int Log(const Globals& g, uint64_t from, std::optional<uint64_t> to, const std::string& subject,
        bool access) {
  if (access && subject.empty()) {
    return Fail(Status::InvalidArgument(
        "log --access over --server needs --subject ID: the service lists one person's reads"));
  }
  const uint64_t end = to ? *to + 1 : UINT64_MAX;  // exclusive
  if (from >= end) return 0;
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    if (!subject.empty()) {
      auto request = session.accessLogRequest();
      request.setSubject(subject);
      auto response = request.send().wait(ws);
      // One envelope per line, each starting {"seq":N (EnvelopeJson): keep those in range.
      const std::string_view text(response.getJson().cStr(), response.getJson().size());
      for (size_t at = 0; at < text.size();) {
        size_t eol = text.find('\n', at);
        if (eol == std::string_view::npos) eol = text.size();
        const std::string_view line = text.substr(at, eol - at);
        at = eol + 1;
        constexpr std::string_view kSeq = "{\"seq\":";
        uint64_t seq = 0;
        if (!line.starts_with(kSeq) ||
            std::from_chars(line.data() + kSeq.size(), line.data() + line.size(), seq).ec !=
                std::errc()) {
          return Fail(Status::Corruption("the server's access log has a line without a seq"));
        }
        if (seq >= from && seq < end) {
          std::printf("%.*s\n", static_cast<int>(line.size()), line.data());
        }
      }
      return 0;
    }
    // Pages until `to`, or the end of the log as it stands now.
    constexpr uint64_t kPage = 1000;
    for (uint64_t next = from; next < end;) {
      auto request = session.envelopesRequest();
      request.setFrom(next);
      request.setMax(static_cast<uint32_t>(std::min(kPage, end - next)));
      auto response = request.send().wait(ws);
      auto json = response.getJson();
      std::fwrite(json.begin(), 1, json.size(), stdout);
      if (response.getNext() <= next) return 0;
      next = response.getNext();
    }
    return 0;
  });
}

int TokenIssue(const Globals& g, const std::string& actor, const std::string& role) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.issueTokenRequest();
    request.setActor(actor);
    request.setRole(role);
    PrintLine(request.send().wait(ws).getJson().cStr());
    return 0;
  });
}

int TokenList(const Globals& g) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto response = session.listTokensRequest().send().wait(ws);
    auto json = response.getJson();
    std::fwrite(json.begin(), 1, json.size(), stdout);
    return 0;
  });
}

int TokenRevoke(const Globals& g, const std::string& token_or_id) {
  return WithSession(g, [&](schema::Session::Client& session, kj::WaitScope& ws) {
    auto request = session.revokeTokenRequest();
    request.setTokenOrId(token_or_id);
    PrintLine(request.send().wait(ws).getJson().cStr());
    return 0;
  });
}

}  // namespace kirjuri::cli::remote
