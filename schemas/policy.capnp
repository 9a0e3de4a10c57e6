@0xb20c14b95d1cb12f;
# The register policy: which registers exist, what they hold, why, from where and on which lawful
# basis. Appends are checked against it (ledger/src/policy.cc). Written as JSON
# (schemas/policies/almerin.json is the shipped default) and read with Cap'n Proto's JSON codec.
# Like the event schema, it only grows.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("kirjuri::schema");

struct Policy {
  name @0 :Text;                  # e.g. "almerin"
  version @1 :UInt32;
  controller @2 :Controller;
  lawfulBases @3 :List(Text);     # e.g. "consent", "legitimate_interest"
  registers @4 :List(Register);
}

struct Controller {
  name @0 :Text;
  businessId @1 :Text;
  address @2 :Text;
  contactRole @3 :Text;           # who answers requests; the person's name stays in the document
}

struct Register {
  name @0 :Text;                  # "customer"
  title @1 :LocalText;
  purposes @2 :List(Term);
  sources @3 :List(Term);
  categories @4 :List(Category);
}

struct Category {
  name @0 :Text;                  # "profile"
  title @1 :LocalText;
  fields @2 :List(Term);          # the data items an event of this category may carry
  retentionDuty @3 :RetentionDuty;  # set if a law requires keeping this data despite erasure
}

struct RetentionDuty {
  reason @0 :LocalText;           # the law, e.g. the Finnish Accounting Act 1336/1997, 2:10 §
  years @1 :UInt32;               # how long
  fromEndOfYear @2 :Bool;         # counted from the end of the year of the last such event
}

struct Term {
  name @0 :Text;                  # machine name, snake_case
  title @1 :LocalText;
}

struct LocalText {
  fi @0 :Text;
  en @1 :Text;
}
