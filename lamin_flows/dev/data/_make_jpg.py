"""Render ``paradisi05_laminopathic_nuclei.jpg``, the example image of ``lamin_flows.dev``.

The picture is synthetic: a two-channel "fluorescence micrograph" of a few nuclei, DNA
(blue) filling each nucleus and the nuclear lamina (green) outlining it. Some nuclei are
"laminopathic": their outline is lobulated and carries blebs, as in cells with mutant
lamin A/C. Nothing is downloaded; the only dependency is numpy (already installed with
lamin_flows), because the JPEG is written by the small baseline encoder below rather than
by Pillow.

Run from the repository root to regenerate the file in place::

    python lamin_flows/dev/data/_make_jpg.py

This script is kept for provenance; the package never imports it.
"""

from __future__ import annotations

import heapq
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np

SIZE = 256
QUALITY = 85
COMMENT = b"lamin_flows example data: synthetic laminopathic nuclei (DNA blue, lamin green)"

# (centre x, centre y, semi-axis a, semi-axis b, rotation in rad, laminopathic?)
NUCLEI = [
    (62.0, 58.0, 30.0, 22.0, 0.5, False),
    (178.0, 50.0, 26.0, 21.0, -0.3, True),
    (120.0, 128.0, 33.0, 25.0, 1.2, True),
    (48.0, 170.0, 24.0, 19.0, 0.1, False),
    (200.0, 160.0, 28.0, 24.0, 2.0, True),
    (132.0, 218.0, 25.0, 18.0, -0.8, False),
]


# --------------------------------------------------------------------- the picture


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    radius = int(3 * sigma) + 1
    x = np.arange(-radius, radius + 1, dtype=float)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(img, radius, mode="reflect")
    rows = np.apply_along_axis(np.convolve, 1, padded, kernel, mode="valid")
    return np.apply_along_axis(np.convolve, 0, rows, kernel, mode="valid")


def render_nuclei(size: int = SIZE, seed: int = 2005) -> np.ndarray:
    """Return an RGB uint8 array of shape (size, size, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dna = np.zeros((size, size))
    shape = np.zeros((size, size))
    for cx, cy, a, b, angle, laminopathic in NUCLEI:
        dx, dy = xx - cx, yy - cy
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / a
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / b
        rho, theta = np.hypot(u, v), np.arctan2(v, u)
        # A healthy nucleus is a smooth ellipse; a laminopathic one is lobulated.
        wobble = 0.02 * np.sin(3 * theta + rng.uniform(0, 2 * np.pi))
        if laminopathic:
            for k in (4, 5, 7):
                wobble += rng.uniform(0.04, 0.08) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
        body = 1.0 / (1.0 + np.exp(-(1.0 + wobble - rho) * 25.0))
        if laminopathic:
            for _ in range(int(rng.integers(1, 4))):
                t = rng.uniform(0, 2 * np.pi)
                bx = cx + 1.02 * a * np.cos(t) * np.cos(angle) - 1.02 * b * np.sin(t) * np.sin(angle)
                by = cy + 1.02 * a * np.cos(t) * np.sin(angle) + 1.02 * b * np.sin(t) * np.cos(angle)
                r = rng.uniform(6.0, 10.0)
                bleb = 1.0 / (1.0 + np.exp(-(r - np.hypot(xx - bx, yy - by)) * 1.2))
                body = np.maximum(body, bleb)
                dna += 0.35 * bleb  # blebs hold some, but less, chromatin
        shape = np.maximum(shape, body)
        texture = 0.75 + 0.25 * _gaussian_blur(rng.standard_normal((size, size)), 2.5) * 4
        dna += body * np.clip(texture, 0.4, 1.2)
        for _ in range(int(rng.integers(3, 7))):  # bright chromocentres
            r, t = rng.uniform(0, 0.7), rng.uniform(0, 2 * np.pi)
            px = cx + r * a * np.cos(t) * np.cos(angle) - r * b * np.sin(t) * np.sin(angle)
            py = cy + r * a * np.cos(t) * np.sin(angle) + r * b * np.sin(t) * np.cos(angle)
            dna += 0.6 * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 2.2**2))
    # The lamina sits at the nuclear envelope: the edge of the combined shape.
    gy, gx = np.gradient(_gaussian_blur(shape, 1.0))
    lamin = np.hypot(gx, gy)
    lamin = lamin / lamin.max() + 0.12 * shape
    dna = _gaussian_blur(dna, 1.2)
    dna /= dna.max()
    lamin = _gaussian_blur(lamin, 0.8)
    lamin /= lamin.max()
    background = 0.04 + 0.01 * _gaussian_blur(rng.standard_normal((size, size)), 1.0)
    red = 0.05 * dna + 0.15 * lamin + background
    green = 0.95 * lamin + background
    blue = 0.9 * dna + 0.1 * lamin + background
    rgb = np.clip(np.stack([red, green, blue], axis=-1), 0.0, 1.0) ** 0.8
    return np.round(rgb * 255.0).astype(np.uint8)


# ----------------------------------------------------------------- baseline JPEG

_LUMA_Q = [
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
]
_CHROMA_Q = [[17, 18, 24, 47] + [99] * 4, [18, 21, 26, 66] + [99] * 4, [24, 26, 56] + [99] * 5, [47, 66] + [99] * 6] + [
    [99] * 8
] * 4
_ZIGZAG = sorted(
    ((r, c) for r in range(8) for c in range(8)),
    key=lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else p[1]),
)
_ZZ_FLAT = np.array([r * 8 + c for r, c in _ZIGZAG])


def _scaled_table(base: list[list[int]], quality: int) -> np.ndarray:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = (np.array(base) * scale + 50) // 100
    return np.clip(table, 1, 255)


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    m = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m


def _quantized_blocks(channel: np.ndarray, qtable: np.ndarray) -> np.ndarray:
    """(n_blocks, 64) zigzag-ordered quantized DCT coefficients, blocks in raster order."""
    h, w = channel.shape
    blocks = channel.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    d = _dct_matrix()
    coef = d @ (blocks - 128.0) @ d.T
    quant = np.round(coef / qtable).astype(int).reshape(-1, 64)
    return quant[:, _ZZ_FLAT]


def _category(value: int) -> int:
    return abs(value).bit_length()


def _extra_bits(value: int, n: int) -> int:
    return value if value >= 0 else value + (1 << n) - 1


def _tokens(blocks: np.ndarray) -> list[tuple[str, int, int, int]]:
    """(table kind, symbol, extra bits, number of extra bits) for every block."""
    out: list[tuple[str, int, int, int]] = []
    previous_dc = 0
    for block in blocks.tolist():
        diff = block[0] - previous_dc
        previous_dc = block[0]
        n = _category(diff)
        out.append(("dc", n, _extra_bits(diff, n), n))
        run = 0
        last_nonzero = max((i for i in range(1, 64) if block[i]), default=0)
        for value in block[1 : last_nonzero + 1]:
            if value == 0:
                run += 1
                continue
            while run > 15:
                out.append(("ac", 0xF0, 0, 0))
                run -= 16
            n = _category(value)
            out.append(("ac", (run << 4) | n, _extra_bits(value, n), n))
            run = 0
        if last_nonzero < 63:
            out.append(("ac", 0x00, 0, 0))
    return out


def _huffman_spec(freq: Counter[int]) -> tuple[list[int], list[int]]:
    """BITS (counts per code length 1..16) and HUFFVAL for an optimal table.

    A dummy symbol (256) with the lowest count takes the all-ones code, which JPEG
    forbids, and is dropped at the end; lengths above 16 are folded as in ITU T.81 K.3.
    """
    dummy = 256
    heap = [(count, symbol, [symbol]) for symbol, count in sorted(freq.items())]
    heap.append((1, dummy, [dummy]))
    heapq.heapify(heap)
    length = {symbol: 0 for _, symbol, _ in heap}
    tiebreak = 257
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for symbol in s1 + s2:
            length[symbol] += 1
        heapq.heappush(heap, (c1 + c2, tiebreak, s1 + s2))
        tiebreak += 1
    max_len = max(length.values())
    bits = [0] * (max(max_len, 16) + 1)
    for n in length.values():
        bits[n] += 1
    for i in range(len(bits) - 1, 16, -1):
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
    i = 16
    while bits[i] == 0:
        i -= 1
    bits[i] -= 1  # drop the dummy's code, the last and longest
    order = sorted(length, key=lambda s: (length[s], s == dummy, s))
    values = [s for s in order if s != dummy]
    return bits[1:17], values


def _codes(bits: list[int], values: list[int]) -> dict[int, tuple[int, int]]:
    table: dict[int, tuple[int, int]] = {}
    code, k = 0, 0
    for n in range(1, 17):
        for _ in range(bits[n - 1]):
            table[values[k]] = (code, n)
            code += 1
            k += 1
        code <<= 1
    return table


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, code: int, length: int) -> None:
        self.acc = (self.acc << length) | code
        self.n += length
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:  # byte stuffing, so data never looks like a marker
                self.out.append(0x00)
        self.acc &= (1 << self.n) - 1

    def flush(self) -> bytes:
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)
        return bytes(self.out)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def encode_jpeg(rgb: np.ndarray, quality: int = QUALITY, comment: bytes = b"") -> bytes:
    """Baseline (SOF0), 4:4:4 YCbCr JPEG with optimized Huffman tables."""
    h, w, _ = rgb.shape
    if h % 8 or w % 8:
        raise ValueError(f"image size must be a multiple of 8, got {w}x{h}")
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    ycc = [
        0.299 * r + 0.587 * g + 0.114 * b,
        -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0,
        0.5 * r - 0.418688 * g - 0.081312 * b + 128.0,
    ]
    qtables = [_scaled_table(_LUMA_Q, quality), _scaled_table(_CHROMA_Q, quality)]
    table_of = [0, 1, 1]  # component -> quantization / Huffman table id
    tokens = [_tokens(_quantized_blocks(c, qtables[t])) for c, t in zip(ycc, table_of, strict=True)]

    freqs = {(kind, t): Counter() for kind in ("dc", "ac") for t in (0, 1)}
    for comp_tokens, t in zip(tokens, table_of, strict=True):
        for kind, symbol, _, _ in comp_tokens:
            freqs[(kind, t)][symbol] += 1
    specs = {key: _huffman_spec(freq) for key, freq in freqs.items()}
    codes = {key: _codes(*spec) for key, spec in specs.items()}

    # Interleave: one MCU = one 8x8 block of each component, in raster order.
    per_block: list[list[list[tuple[str, int, int, int]]]] = []
    for comp_tokens in tokens:
        blocks: list[list[tuple[str, int, int, int]]] = []
        for token in comp_tokens:
            if token[0] == "dc":
                blocks.append([])
            blocks[-1].append(token)
        per_block.append(blocks)
    writer = _BitWriter()
    for mcu in range(len(per_block[0])):
        for comp, t in enumerate(table_of):
            for kind, symbol, extra, n in per_block[comp][mcu]:
                code, length = codes[(kind, t)][symbol]
                writer.write(code, length)
                if n:
                    writer.write(extra, n)
    scan = writer.flush()

    out = bytearray(b"\xff\xd8")
    out += _segment(0xE0, b"JFIF\x00\x01\x01\x00" + struct.pack(">HHBB", 1, 1, 0, 0))
    if comment:
        out += _segment(0xFE, comment)
    for tid, table in enumerate(qtables):
        out += _segment(0xDB, bytes([tid]) + bytes(int(table[r, c]) for r, c in _ZIGZAG))
    sof = struct.pack(">BHHB", 8, h, w, 3)
    for cid, t in zip((1, 2, 3), table_of, strict=True):
        sof += bytes([cid, 0x11, t])
    out += _segment(0xC0, sof)
    for (kind, t), (bits, values) in specs.items():
        cls = 0 if kind == "dc" else 1
        out += _segment(0xC4, bytes([(cls << 4) | t]) + bytes(bits) + bytes(values))
    sos = bytes([3]) + b"".join(bytes([cid, (t << 4) | t]) for cid, t in zip((1, 2, 3), table_of, strict=True))
    out += _segment(0xDA, sos + bytes([0, 63, 0]))
    out += scan + b"\xff\xd9"
    return bytes(out)


def main(target: Path) -> None:
    target.write_bytes(encode_jpeg(render_nuclei(), QUALITY, COMMENT))
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    default = Path(__file__).with_name("paradisi05_laminopathic_nuclei.jpg")
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
