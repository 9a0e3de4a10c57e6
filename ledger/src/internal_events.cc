// Events that Kirjuri writes itself (erasure, retention, requests): never input, always signed
// and committed like any other, under the append lock.
#include "event_codec.h"
#include "ledger_impl.h"

namespace kirjuri {

schema::Event::Builder Ledger::Impl::StartInternalEventLocked(capnp::MessageBuilder& message,
                                                              const SubjectId& subject,
                                                              const SubjectState& state,
                                                              schema::EventType type,
                                                              std::string_view actor,
                                                              std::string_view request) {
  const int64_t now = RecordTimeLocked();
  auto event = message.initRoot<schema::Event>();
  auto env = event.initEnvelope();
  env.setSeq(size.load());
  env.setRecordedAtMicros(now);
  env.setOccurredAtMicros(now);
  env.setRegister(state.register_name);
  env.setSubject(kj::arrayPtr(subject.data(), subject.size()));
  env.setType(type);
  env.setActor(std::string(actor));
  env.setBasis("legal_obligation");
  env.setRequest(std::string(request));
  return event;
}

Status Ledger::Impl::CommitInternalLocked(schema::Event::Reader event, const SubjectId& subject,
                                          const SubjectState& state,
                                          const std::function<void(rocksdb::WriteBatch&)>& extra,
                                          uint64_t* seq) {
  auto env = event.getEnvelope();
  std::vector<Pending> pending(1);
  SignAndEncode(event, key, &pending[0].encoded);
  pending[0].subject = subject;
  pending[0].type = env.getType();
  pending[0].occurred_at_micros = env.getOccurredAtMicros();
  std::map<SubjectId, SubjectState> states{{subject, state}};
  KIRJURI_RETURN_IF_ERROR(CommitLocked(pending, states, extra));
  *seq = env.getSeq();
  return Status::Ok();
}

}  // namespace kirjuri
