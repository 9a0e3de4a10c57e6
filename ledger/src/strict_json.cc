#include "strict_json.h"

#include <capnp/message.h>
#include <kj/exception.h>

#include <string>

namespace kirjuri {
namespace {

// Checks that every key of `value` (an object meant for `schema`) names a field, recursively.
Status CheckKeys(capnp::JsonValue::Reader value, capnp::StructSchema schema,
                 const std::string& path) {
  if (!value.isObject()) return Status::Ok();  // type mismatches are the codec's to report
  for (auto field : value.getObject()) {
    std::string name = field.getName();
    KJ_IF_MAYBE(f, schema.findFieldByName(field.getName())) {
      capnp::Type type = f->getType();
      std::string where = path.empty() ? name : path + "." + name;
      auto v = field.getValue();
      if (type.isText() && !v.isString() && !v.isNull()) {
        return Status::InvalidArgument("field '" + where + "' must be a string");
      }
      if (type.isBool() && !v.isBoolean() && !v.isNull()) {
        return Status::InvalidArgument("field '" + where + "' must be true or false");
      }
      if ((type.isUInt32() || type.isUInt64() || type.isInt64() || type.isInt32()) &&
          !v.isNumber() && !v.isString() && !v.isNull()) {
        return Status::InvalidArgument("field '" + where + "' must be a number");
      }
      if (type.isList() && !v.isArray() && !v.isNull()) {
        return Status::InvalidArgument("field '" + where + "' must be an array");
      }
      if (type.isStruct() && !v.isObject() && !v.isNull() &&
          type.asStruct() != capnp::Schema::from<capnp::JsonValue>()) {
        return Status::InvalidArgument("field '" + where + "' must be an object");
      }
      if (type.isStruct()) {
        auto s = type.asStruct();
        if (s == capnp::Schema::from<capnp::JsonValue>()) continue;
        KIRJURI_RETURN_IF_ERROR(CheckKeys(field.getValue(), s, where));
      } else if (type.isList() && type.asList().getElementType().isStruct()) {
        auto s = type.asList().getElementType().asStruct();
        if (s == capnp::Schema::from<capnp::JsonValue>()) continue;
        if (!field.getValue().isArray()) continue;
        for (auto element : field.getValue().getArray()) {
          KIRJURI_RETURN_IF_ERROR(CheckKeys(element, s, where));
        }
      }
    } else {
      std::string where = path.empty() ? "" : " in '" + path + "'";
      return Status::InvalidArgument("unknown field " + QuoteName(name) + where);
    }
  }
  return Status::Ok();
}

}  // namespace

std::string QuoteName(std::string_view s) {
  bool vocabulary = !s.empty() && s.size() <= 40;
  for (char c : s) {
    vocabulary = vocabulary && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                                c == '-');
  }
  if (!vocabulary) return "(a name that is not policy vocabulary)";
  // Built with append: GCC 12 at -O3 warns falsely (-Wrestrict) on "'" + std::string(s) + "'".
  std::string quoted;
  quoted.reserve(s.size() + 2);
  quoted.append(1, '\'').append(s).append(1, '\'');
  return quoted;
}

Status ParseJsonValue(std::string_view json, capnp::JsonValue::Builder out) {
  capnp::JsonCodec codec;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    codec.decodeRaw(kj::ArrayPtr<const char>(json.data(), json.size()), out);
  });
  KJ_IF_MAYBE(e, error) {
    (void)e;
    return Status::InvalidArgument("malformed JSON");
  }
  return Status::Ok();
}

bool DecodeJsonString(std::string_view json, std::string* out) {
  // Fast path: a quoted string with nothing to unescape.
  if (json.size() >= 2 && json.front() == '"' && json.back() == '"') {
    std::string_view inner = json.substr(1, json.size() - 2);
    bool plain = true;
    for (char c : inner) plain &= c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20;
    if (plain) {
      out->assign(inner);
      return true;
    }
  }
  capnp::MallocMessageBuilder scratch;
  auto value = scratch.initRoot<capnp::JsonValue>();
  if (!ParseJsonValue(json, value).ok() || !value.isString()) return false;
  *out = value.asReader().getString();
  return true;
}

Status DecodeStrict(std::string_view json, capnp::DynamicStruct::Builder out) {
  capnp::MallocMessageBuilder scratch;
  auto raw = scratch.initRoot<capnp::JsonValue>();
  KIRJURI_RETURN_IF_ERROR(ParseJsonValue(json, raw));
  if (!raw.isObject()) return Status::InvalidArgument("expected a JSON object");
  KIRJURI_RETURN_IF_ERROR(CheckKeys(raw.asReader(), out.getSchema(), ""));
  capnp::JsonCodec codec;
  kj::Maybe<kj::Exception> error =
      kj::runCatchingExceptions([&] { codec.decode(raw.asReader(), out); });
  // The codec's own message may quote the input, which can be personal data: not passed on.
  KJ_IF_MAYBE(e, error) {
    (void)e;
    return Status::InvalidArgument("a field has a value of the wrong type");
  }
  // The codec has no special case for Json.Value fields (it would decode the object's keys as
  // JsonValue's own members): copy those values over as parsed.
  for (auto field : raw.asReader().getObject()) {
    KJ_IF_MAYBE(f, out.getSchema().findFieldByName(field.getName())) {
      capnp::Type type = f->getType();
      if (type.isStruct() && type.asStruct() == capnp::Schema::from<capnp::JsonValue>()) {
        out.set(*f, capnp::DynamicValue::Reader(field.getValue()));
      }
    }
  }
  return Status::Ok();
}

}  // namespace kirjuri
