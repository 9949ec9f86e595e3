"""The evidence bundle for one record: everything a third party needs to check it, years
later, with standard tools only (``ims-kiosk evidence REFERENCE --out FILE.zip``).

The zip holds the sealed PDF; the record and each of its events as the exact bytes that were
hashed (so ``sha256sum`` of the file is the entry's hash in the chain); the archived content
the patient saw (its SHA-256 is the one the record names); the chain's links from the record
to the current head; the clinic's root certificate; the last signed checkpoint; a
standard-library Python checker; ``SHA256SUMS``; and a README.txt saying how to check it all.
Other patients' entries are never included: the links list only their position and hashes.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.services import KioskServices

CHECKER = """\
import hashlib, json, os, sys
# --- check_chain.py: standard library only --------------------------------------------
here = os.path.dirname(os.path.abspath(__file__))
links = []
with open(os.path.join(here, "chain.tsv"), encoding="utf-8") as handle:
    for line in handle:
        if line.startswith("#") or not line.strip():
            continue
        seq, kind, prev, sha, mine = line.rstrip("\\n").split("\\t")
        links.append((int(seq), kind, prev, sha, mine == "this-record"))
problems = []
for before, after in zip(links, links[1:]):
    if after[0] != before[0] + 1 or after[2] != before[3]:
        problems.append(f"the chain breaks between entries {before[0]} and {after[0]}")
by_seq = {seq: (kind, prev, sha) for seq, kind, prev, sha, _ in links}
own = sorted(name for name in os.listdir(os.path.join(here, "record")))
for name in own:
    blob = open(os.path.join(here, "record", name), "rb").read()
    entry = json.loads(blob)
    seq = entry["seq"]
    if seq not in by_seq:
        problems.append(f"{name}: entry {seq} is not in chain.tsv")
        continue
    kind, prev, sha = by_seq[seq]
    if hashlib.sha256(blob).hexdigest() != sha:
        problems.append(f"{name}: its SHA-256 is not the chain's hash for entry {seq}")
    if entry["prev_sha256"] != prev or entry["kind"] != kind:
        problems.append(f"{name}: it is not linked as chain.tsv says")
record = json.loads(open(os.path.join(here, "record", own[0]), "rb").read())["data"]
content = record["content"]["sha256"]
blob = open(os.path.join(here, "content", content + ".json"), "rb").read()
if hashlib.sha256(blob).hexdigest() != content:
    problems.append("the content file is not the content the record names")
if problems:
    print("FAILED: " + "; ".join(problems))
    sys.exit(1)
head = links[-1]
print(f"OK: the record (entry {links[0][0]}) and its {len(own) - 1} event(s) hash as the chain "
      f"says, the content is the one it names, and the links lead unbroken to entry "
      f"{head[0]}, chain head {head[3]}.")
"""

README = """\
Evidence bundle for IMS kiosk record {reference}
{clinic}, made {made} by {maker}

What is here
  {reference}.pdf        the record's summary, sealed by the clinic (PAdES electronic seal)
  record/               the record and each later event, as the exact bytes the clinic's
                        store hashed: the SHA-256 of each file is that entry's hash
  content/              the education content the patient was shown, as archived; its
                        SHA-256 is the one the record names
  chain.tsv             the store's hash chain from this record to its newest entry when
                        the bundle was made: sequence, kind, previous hash, hash. Entries of
                        other patients are listed by their hashes only (their content is
                        private); the clinic can show any of them to a court
  clinic-root.pem       the clinic's root certificate (the anchor of the seal)
  checkpoint.txt        the last checkpoint the clinic signed (if any): compare with the
                        copy it keeps off the machine
  check_chain.py        the hash-chain check below, as a file
  SHA256SUMS            the SHA-256 of every file above

How to check it (standard tools only)
  1. Files are complete and unchanged:
         sha256sum -c SHA256SUMS
  2. The clinic's root is the one it publishes: compare this with the fingerprint printed
     on its letterhead or website (or given to you by the clinic):
         openssl x509 -in clinic-root.pem -noout -fingerprint -sha256
     Root SHA-256: {root}
  3. The record and its events are the ones in the chain, linked unbroken to its head:
         python3 check_chain.py
     The head it prints ({head}) should match the chain head printed on any PDF exported
     later, a checkpoint the clinic signed, or what `ims-kiosk verify` prints at the clinic.
     The script (standard library only) is:

{checker}
  4. The PDF's seal: open {reference}.pdf in any PAdES validator (for example Adobe Acrobat
     Reader, the EU's DSS demonstration, or pyHanko) with clinic-root.pem as the trusted
     root; at the clinic, `ims-kiosk verify-pdf {reference}.pdf --trust clinic-root.pem`.
     The seal proves the PDF is unchanged since the clinic sealed it; its time comes from
     the clinic's clock unless a time-stamp is shown (docs/sealing.md says what each level
     proves). The PDF names the record's entry and hash: they are the first line of
     chain.tsv.

What it proves, and what it does not
  That the clinic's store holds this record and these events exactly, linked in its hash
  chain up to the head above, and that the PDF was sealed with the clinic's key. It does
  not, by itself, prove when: for that, compare the head with a copy the clinic kept or
  gave away earlier (a signed checkpoint, a printed PDF), which the records cannot change.
"""


def build_evidence(
    services: KioskServices, reference: str, out: Path, *, actor: str, force: bool = False
) -> Path:
    """Write the evidence bundle for ``reference`` to ``out`` (a new file, or replacing one
    with ``force``). The PDF's export
    is logged on the record first, so the bundle's chain includes it."""
    from consent_records.chain import canonical_json
    from consent_records.model import EventKind, RecordEvent
    from consent_records.sealkeys import load_identity
    from consent_records.store.entries import read_entry_bytes, split_entry
    from consent_records.store.layout import KEYS_DIR, entry_path
    from kiosk.services import ExportError, check_output_file, place_file, write_hidden_copy

    check_output_file(out, force=force)
    if services.settings.store != "embedded":
        raise ExportError(
            "Evidence bundles read the embedded store's entry files; with PostgreSQL, make the "
            "bundle from a backup copied to a data directory (ims-kiosk store copy)."
        )
    store = services.store
    stored = services.find(reference)
    reference = stored.record.reference
    pdf = services.render_pdf(stored)
    store.append_event(
        RecordEvent(
            record_id=stored.record.id,
            kind=EventKind.PDF_EXPORTED,
            at=services.now(),
            actor=actor[:120],
            details={"file": out.name[:200], "bytes": len(pdf), "evidence": True},
        )
    )
    stored = services.find(reference)
    head = store.chain_length()
    root = services.data_dir
    own = {stored.entry.seq} | {e.entry.seq for e in stored.events}
    files: dict[str, bytes] = {f"{reference}.pdf": pdf}
    links = ["# seq\tkind\tprev_sha256\tsha256\tthis-record or other\n"]
    for seq in range(stored.entry.seq, head + 1):
        path = entry_path(root, seq)
        raw = split_entry(read_entry_bytes(path, seq), path, seq)  # checks the hash
        links.append(
            f"{seq}\t{raw.kind}\t{raw.prev_sha256}\t{raw.sha256}\t"
            f"{'this-record' if seq in own else 'other'}\n"
        )
        if seq in own:
            hashed = canonical_json(
                {"seq": seq, "kind": raw.kind, "prev_sha256": raw.prev_sha256, "data": raw.data()}
            )
            if hashlib.sha256(hashed).hexdigest() != raw.sha256:
                raise ExportError(f"Entry {seq} does not hash as stored; run `ims-kiosk verify`.")
            files[f"record/{seq:09d}-{raw.kind}.json"] = hashed
    files["chain.tsv"] = "".join(links).encode("utf-8")
    content_sha = stored.record.content.sha256
    archived = store.archived_content(content_sha)
    if archived is None:
        raise ExportError(
            f"The content record {reference} was signed with is not in the archive; no "
            "bundle was written."
        )
    files[f"content/{content_sha}.json"] = archived
    identity = load_identity(root / KEYS_DIR)
    root_sha = "(no seal set up: the PDF says NOT SEALED)"
    if identity is not None:
        from cryptography.hazmat.primitives.serialization import Encoding

        files["clinic-root.pem"] = identity.root.public_bytes(Encoding.PEM)
        root_sha = identity.root_sha256
    last = store.last_checkpoint()
    files["checkpoint.txt"] = (
        (last.line() + "\n").encode("utf-8")
        if last is not None
        else b"No checkpoint has been signed yet (ims-kiosk checkpoint).\n"
    )
    files["check_chain.py"] = CHECKER.encode("utf-8")
    head_sha = links[-1].split("\t")[3]
    readme = README.format(
        reference=reference,
        clinic=services.settings.clinic.name,
        made=_stamp(services.now()),
        maker=actor,
        root=root_sha,
        head=f"entry {head}, {head_sha}",
        checker="".join(f"    {line}\n" if line else "\n" for line in CHECKER.splitlines()),
    )
    files["README.txt"] = readme.encode("utf-8")
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    )
    files["SHA256SUMS"] = sums.encode("utf-8")
    buffer = io.BytesIO()
    folder = f"evidence-{reference}"
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(2000, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    tmp = write_hidden_copy(out, buffer.getvalue())
    try:
        place_file(tmp, out, force=force)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{out} could not be written ({exc.strerror or exc}).") from None
    return out


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
