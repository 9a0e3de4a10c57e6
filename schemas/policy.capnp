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
  # Added with the register description as code (all optional for older policies).
  introduction @5 :LocalText;     # who the registers cover, and on which basis in general
  transfers @6 :TransferRule;
  disclosures @7 :DisclosureRule;
  security @8 :LocalText;         # the principles protecting the registers
  rights @9 :List(Term);          # the rights of the people in the registers, as promised
  complaint @10 :LocalText;       # where a person may complain
  roles @11 :List(Role);          # who may read and do what (enforced by `kirjuri serve`)
}

struct Controller {
  name @0 :Text;
  businessId @1 :Text;
  address @2 :Text;
  contactRole @3 :Text;           # who answers requests
  contact @4 :Contact;            # the register's contact person, as the description publishes
}

struct Contact {
  name @0 :Text;
  email @1 :Text;
  phone @2 :Text;
}

struct TransferRule {
  # A disclosure event's "country" must be one of these (ISO 3166-1 alpha-2). The Almerin
  # policy lists the EU and EEA states: nothing leaves the EU/EEA.
  allowedCountries @0 :List(Text);
  text @1 :LocalText;
}

struct DisclosureRule {
  # A disclosure to a third party must rest on one of these lawful bases; "consent" also needs
  # the person's consent for the event's purpose, given and not withdrawn, when it is recorded.
  allowedBases @0 :List(Text);
  recipients @1 :List(Term);      # the kinds of recipient the register description names
  text @2 :LocalText;
}

struct Role {
  name @0 :Text;                  # "dpo", "staff", "marketing", "auditor", "service"
  title @1 :LocalText;
  actions @2 :List(Text);         # what the role may do, e.g. "append", "query", "erase"
  readCategories @3 :List(Text);  # data categories whose values it may read; "*" for all
  appendCategories @4 :List(Text);  # categories it may record; "*" for all
}

struct Register {
  name @0 :Text;                  # "customer"
  title @1 :LocalText;
  purposes @2 :List(Term);
  sources @3 :List(Term);
  categories @4 :List(Category);
  subjects @5 :LocalText;         # whose data it holds, e.g. customers and prospective customers
}

struct Category {
  name @0 :Text;                  # "profile"
  title @1 :LocalText;
  fields @2 :List(Term);          # the data items an event of this category may carry
  retentionDuty @3 :RetentionDuty;  # set if a law requires keeping this data despite erasure
  retention @4 :LocalText;        # how long it is kept, and why
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
