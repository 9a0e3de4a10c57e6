// Strict JSON decoding into Cap'n Proto structs.
//
// Cap'n Proto's JsonCodec ignores object keys the schema does not know (for schema evolution).
// Kirjuri's inputs are contracts, so a misspelt key must be an error, not silently dropped:
// DecodeStrict checks every key of every nested object against the schema first, then decodes
// with the codec. Fields of type Json.Value are taken as they are.
#pragma once

#include <capnp/compat/json.capnp.h>
#include <capnp/compat/json.h>
#include <capnp/dynamic.h>

#include <string>
#include <string_view>

#include "kirjuri/json.h"  // DecodeJsonString
#include "kirjuri/status.h"

namespace kirjuri {

// Decodes `json` into `out`. InvalidArgument with a one-line reason on malformed JSON, a value
// of the wrong type, or an unknown key ("unknown field 'emial'"). Never echoes values.
Status DecodeStrict(std::string_view json, capnp::DynamicStruct::Builder out);

// A name taken from input (a key, a register, a type), quoted for an error message only if it
// looks like policy vocabulary (lowercase snake_case, at most 40 characters). Anything else
// could be personal data put in the wrong place, and is described instead of quoted.
std::string QuoteName(std::string_view name);

// Parses `json` as raw JSON. InvalidArgument on malformed input.
Status ParseJsonValue(std::string_view json, capnp::JsonValue::Builder out);

}  // namespace kirjuri
