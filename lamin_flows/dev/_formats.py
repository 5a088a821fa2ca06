"""Small, format-valid sequencing and cytometry files (standard library only).

Every byte depends only on a fixed name: reads and events come from :func:`rng_for`, gzip and
BGZF members carry ``mtime=0`` and no file name, so writing a file twice gives the same hash.

* FASTQ (gzip): 4-line records, Phred+33 qualities, as a sequencer's demultiplexer writes them.
* BAM: BGZF blocks (gzip members with the ``BC`` extra subfield giving the block size) holding
  the binary header (``BAM\\1``, SAM header text, references) and coordinate-sorted alignment
  records, closed by the standard 28-byte empty end-of-file block (SAM/BAM spec v1, 4.1).
* FCS 3.1: a 58-byte HEADER of ASCII offsets, a TEXT segment of ``/``-delimited keywords
  (``$BEGINDATA``, ``$PAR``, ``$TOT``, ``$PnN``, ...) and a DATA segment of little-endian float32
  events in list mode.
* nf-core/rnaseq ``salmon.merged.gene_counts.tsv``: gene_id, gene_name, one column per sample.
"""

from __future__ import annotations

import gzip
import struct
import zlib

from lamin_flows.dev._simulate import GENES, rng_for

READ_LENGTH = 50
N_READS = 40

# ---------------------------------------------------------------------------- FASTQ


def _reads(name: str, n: int) -> list[tuple[str, str, str]]:
    """(read name, sequence, Phred+33 quality) for ``n`` simulated reads."""
    rng = rng_for(name)
    reads = []
    for i in range(n):
        seq = "".join(rng.choice("ACGT") for _ in range(READ_LENGTH))
        # Illumina-like: high quality, falling off towards the 3' end
        qual = "".join(
            chr(33 + max(2, min(41, round(rng.gauss(38 - 10 * j / READ_LENGTH, 2))))) for j in range(READ_LENGTH)
        )
        reads.append((f"LF00001:1:FC0001:1:1101:{1000 + i * 17}:{2000 + i * 31}", seq, qual))
    return reads


def fastq_bytes(name: str = "input", n: int = N_READS) -> bytes:
    """A gzip-compressed FASTQ file of ``n`` single-end reads."""
    text = "".join(f"@{rid} 1:N:0:ACGTACGT\n{seq}\n+\n{qual}\n" for rid, seq, qual in _reads(name, n))
    return gzip.compress(text.encode("ascii"), compresslevel=6, mtime=0)


# ---------------------------------------------------------------------------- BAM

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_BGZF_MAX_INPUT = 65280  # htslib's limit, so a block never grows beyond 64 KiB compressed
_SEQ_CODES = {base: i for i, base in enumerate("=ACMGRSVTWYHKDBN")}
REFERENCES = (("chr1", 248_956_422), ("chr2", 242_193_529))


def _bgzf_block(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw deflate: BGZF writes its own gzip frame
    payload = compressor.compress(data) + compressor.flush()
    block_size = 18 + len(payload) + 8  # header with extra field, deflate data, CRC32 + ISIZE
    header = struct.pack("<BBBBIBBHBBHH", 0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 66, 67, 2, block_size - 1)
    return header + payload + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data))


def bgzf(data: bytes) -> bytes:
    """``data`` as BGZF: gzip members of at most 64 KiB, then the end-of-file block."""
    blocks = [_bgzf_block(data[i : i + _BGZF_MAX_INPUT]) for i in range(0, len(data), _BGZF_MAX_INPUT)]
    return b"".join(blocks) + BGZF_EOF


def reg2bin(beg: int, end: int) -> int:
    """The BAI bin of the 0-based, end-exclusive interval [beg, end) (SAM spec 5.3)."""
    end -= 1
    for shift, offset in ((14, 4681), (17, 585), (20, 73), (23, 9), (26, 1)):
        if beg >> shift == end >> shift:
            return offset + (beg >> shift)
    return 0


def _alignment(ref_id: int, pos: int, read_name: str, seq: str, qual: str, flag: int, mapq: int) -> bytes:
    name = read_name.encode("ascii") + b"\0"
    cigar = [len(seq) << 4 | 0]  # one M operation over the whole read
    packed = bytearray()
    for i in range(0, len(seq), 2):
        high = _SEQ_CODES[seq[i]]
        low = _SEQ_CODES[seq[i + 1]] if i + 1 < len(seq) else 0
        packed.append(high << 4 | low)
    quals = bytes(ord(c) - 33 for c in qual)
    body = struct.pack(
        "<iiBBHHHiiii",
        ref_id,
        pos,
        len(name),
        mapq,
        reg2bin(pos, pos + len(seq)),
        len(cigar),
        flag,
        len(seq),
        -1,
        -1,
        0,
    )
    body += name + struct.pack(f"<{len(cigar)}I", *cigar) + bytes(packed) + quals
    return struct.pack("<i", len(body)) + body


def bam_bytes(name: str = "output", n: int = N_READS) -> bytes:
    """A coordinate-sorted BAM file of ``n`` single-end reads aligned to two references."""
    rng = rng_for(f"{name}/positions")
    sq = "".join(f"@SQ\tSN:{ref}\tLN:{length}\n" for ref, length in REFERENCES)
    text = f"@HD\tVN:1.6\tSO:coordinate\n{sq}@RG\tID:rg1\tSM:{name}\n@PG\tID:lamin_flows\tPN:lamin_flows.dev\n"
    header = b"BAM\1" + struct.pack("<i", len(text)) + text.encode("ascii") + struct.pack("<i", len(REFERENCES))
    for ref, length in REFERENCES:
        header += struct.pack("<i", len(ref) + 1) + ref.encode("ascii") + b"\0" + struct.pack("<i", length)
    placed = sorted(
        (rng.randrange(len(REFERENCES)), rng.randrange(1_000_000, 2_000_000), rng.random() < 0.5, read)
        for read in _reads(name, n)
    )
    records = b"".join(
        _alignment(ref_id, pos, rid, seq, qual, flag=16 if reverse else 0, mapq=60)
        for ref_id, pos, reverse, (rid, seq, qual) in placed
    )
    return bgzf(header + records)


# ---------------------------------------------------------------------------- FCS

FCS_CHANNELS = (  # (name $PnN, stain $PnS, range $PnR)
    ("FSC-A", "", 262144),
    ("SSC-A", "", 262144),
    ("CD3", "CD3 FITC", 262144),
    ("CD19", "CD19 PE", 262144),
    ("CD4", "CD4 APC", 262144),
    ("CD8", "CD8 PerCP", 262144),
    ("Time", "", 262144),
)
N_EVENTS = 500
_TEXT_START = 256  # where most instruments put TEXT: room to spare after the 58-byte HEADER


def fcs_events(name: str = "example", n: int = N_EVENTS) -> list[list[float]]:
    """``n`` events x the channels of :data:`FCS_CHANNELS`: T (CD4 or CD8) and B cells, debris."""
    rng = rng_for(name)
    events = []
    for i in range(n):
        kind = rng.choices(("cd4", "cd8", "b", "debris"), weights=(40, 25, 25, 10))[0]
        fsc = rng.gauss(25_000 if kind == "debris" else 90_000, 8_000)
        ssc = rng.gauss(10_000 if kind == "debris" else 40_000, 5_000)

        def level(on: bool) -> float:
            return abs(rng.gauss(20_000, 3_000) if on else rng.gauss(300, 150))

        cd3, cd19 = level(kind in ("cd4", "cd8")), level(kind == "b")
        cd4, cd8 = level(kind == "cd4"), level(kind == "cd8")
        events.append([round(v, 1) for v in (abs(fsc), abs(ssc), cd3, cd19, cd4, cd8, i * 0.01)])
    return events


def _fcs_text(keywords: dict[str, str]) -> bytes:
    # "/" is the delimiter; a "/" inside a value is written twice (FCS 3.1, 3.2.9)
    return ("/" + "".join(f"{k}/{v.replace('/', '//')}/" for k, v in keywords.items())).encode("ascii")


def fcs_bytes(name: str = "example", n: int = N_EVENTS) -> bytes:
    """An FCS 3.1 file of ``n`` events in list mode, float32, little-endian."""
    events = fcs_events(name, n)
    data = b"".join(struct.pack(f"<{len(row)}f", *row) for row in events)
    keywords = {
        "$BEGINANALYSIS": "0",
        "$ENDANALYSIS": "0",
        "$BEGINSTEXT": "0",
        "$ENDSTEXT": "0",
        "$BEGINDATA": "0",
        "$ENDDATA": "0",
        "$BYTEORD": "1,2,3,4",
        "$DATATYPE": "F",
        "$MODE": "L",
        "$NEXTDATA": "0",
        "$PAR": str(len(FCS_CHANNELS)),
        "$TOT": str(n),
        "$CYT": "lamin_flows example cytometer",
        "$FIL": f"{name}.fcs",
        "$DATE": "02-DEC-2026",
    }
    for i, (channel, stain, upper) in enumerate(FCS_CHANNELS, start=1):
        keywords.update({f"$P{i}N": channel, f"$P{i}B": "32", f"$P{i}E": "0,0", f"$P{i}R": str(upper)})
        if stain:
            keywords[f"$P{i}S"] = stain
    # The data offsets live in TEXT, whose length depends on them: settle in a few rounds.
    for _ in range(5):
        text = _fcs_text(keywords)
        begin = _TEXT_START + len(text)
        end = begin + len(data) - 1
        if (keywords["$BEGINDATA"], keywords["$ENDDATA"]) == (str(begin), str(end)):
            break
        keywords["$BEGINDATA"], keywords["$ENDDATA"] = str(begin), str(end)
    text_end = _TEXT_START + len(text) - 1
    offsets = (_TEXT_START, text_end, begin, end, 0, 0)
    # HEADER offsets are right-justified in 8 bytes; DATA past 99,999,999 would be written 0 there
    header = b"FCS3.1    " + b"".join(str(o).rjust(8).encode("ascii") for o in offsets)
    return header.ljust(_TEXT_START, b" ") + text + data


# ---------------------------------------------------------------------------- nf-core salmon

SALMON_SAMPLES = ("CONTROL_REP1", "CONTROL_REP2", "TREATED_REP1", "TREATED_REP2")


def salmon_gene_counts_text() -> str:
    """nf-core/rnaseq's ``salmon.merged.gene_counts.tsv``: estimated reads per gene and sample."""
    rng = rng_for("salmon.merged.gene_counts")
    lines = ["\t".join(("gene_id", "gene_name", *SALMON_SAMPLES))]
    for symbol, gene_id in GENES:
        base = rng.lognormvariate(5, 1.5)
        treated = rng.choice((0.25, 1.0, 1.0, 4.0))  # some genes respond to the treatment
        values = [base * (treated if s.startswith("TREATED") else 1.0) * rng.uniform(0.8, 1.25) for s in SALMON_SAMPLES]
        lines.append("\t".join((gene_id, symbol, *(f"{v:.3f}" for v in values))))
    return "\n".join(lines) + "\n"
