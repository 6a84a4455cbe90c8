#!/usr/bin/python3
"""tests/fuzz/make_regressions.py: the reproducing inputs of the defects issue 13 listed (each crashed, hung or
misbehaved on main before the fix), written into tests/fuzz/regressions/<target>/ where the suite replays them
through the fuzz targets (tests/test_fuzz.cpp; under ASan + UBSan in CI's second stage). Run by hand with Debian's
python3-h5py and python3-numpy:  /usr/bin/python3 tests/fuzz/make_regressions.py
"""
import os
import shutil
import struct

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "corpus")
OUT = os.path.join(HERE, "regressions")


def path(target, name):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    return os.path.join(OUT, target, name)


def undigested_copy(name):
    """The tiny checkpoint seed without its digest (as an older checkpoint), to be edited with h5py."""
    p = path("checkpoint", name)
    shutil.copy(os.path.join(SEEDS, "checkpoint", "tiny_no_digest.h5"), p)
    return p


# `tapevit info` indexed every metrics column by the length of metrics/epoch and read past the shorter ones.
p = undigested_copy("metrics_columns_differ.h5")
with h5py.File(p, "r+") as f:
    del f["metrics/eval_loss"]
    f["metrics/eval_loss"] = np.array([1.0], dtype=np.float64)  # 1 value, metrics/epoch has 2

# A hard link from a group to its parent: `info --tensors` recursed forever.
p = undigested_copy("group_cycle.h5")
with h5py.File(p, "r+") as f:
    g = f.create_group("loop")
    g["parent"] = g  # loop/parent is loop

# Dimensions whose product overflows int64 (Shape::numel): a chunked dataset with no data written.
p = undigested_copy("dims_overflow.h5")
with h5py.File(p, "r+") as f:
    del f["params/head.bias"]
    f.create_dataset("params/head.bias", shape=(2**40, 2**40), dtype=np.float32, chunks=(1, 1))

# A dataset of 2^40 values with none stored (chunked, no chunk written): reading it allocated 8 TB.
p = undigested_copy("dataset_larger_than_file.h5")
with h5py.File(p, "r+") as f:
    del f["metrics/epoch"]
    f.create_dataset("metrics/epoch", shape=(2**40,), dtype=np.float64, chunks=(1024,))

# A checkpoint with 9 bytes inserted at 2.7 KB: libhdf5 hung in H5Aread -> H5HG_read on a variable-length string.
d = open(os.path.join(SEEDS, "checkpoint", "tiny.h5"), "rb").read()
open(path("checkpoint", "nine_bytes_inserted.h5"), "wb").write(d[:2700] + b"XXXXXXXXX" + d[2700:])
d = open(os.path.join(SEEDS, "checkpoint", "tiny_no_digest.h5"), "rb").read()
open(path("checkpoint", "nine_bytes_inserted_no_digest.h5"), "wb").write(d[:2700] + b"XXXXXXXXX" + d[2700:])

# A flipped bit inside a tensor's bytes: loaded silently.
d = bytearray(open(os.path.join(SEEDS, "checkpoint", "tiny.h5"), "rb").read())
with h5py.File(os.path.join(SEEDS, "checkpoint", "tiny.h5"), "r") as f:
    off = f["params/pos_embed"].id.get_offset()
d[off + 5] ^= 0x10
open(path("checkpoint", "flipped_bit_in_tensor.h5"), "wb").write(bytes(d))


def npy(shape_text, payload=b""):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape_text
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


# A shape whose product wraps to 0 in 64 bits: accepted with no data, then predict read out of bounds.
open(path("npy", "shape_wraps_to_zero.npy"), "wb").write(npy("(1152921504606846976, 1, 28, 28)"))
# A negative and an absurd dimension.
open(path("npy", "negative_dim.npy"), "wb").write(npy("(2, -1, 4, 4)", b"\0" * 32))
# (the ~600 KB header that overflowed std::regex's stack is built by tests/test_npy.cpp instead of committed)


# IDX: a 16-byte header announcing 2^32-1 images of 65536 x 65536 decided the allocation (1 TiB: bad_alloc, or
# 7.7 GB and 47 s before "truncated"). split2's framing: a 3-byte length of the images file, a flags byte.
images = struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFF, 0xFFFF)
labels = struct.pack(">II", 0x801, 0xFFFFFFFF)
open(path("idx", "header_announces_a_terabyte"), "wb").write(struct.pack("<I", len(images)) + images + labels)
images = struct.pack(">IIII", 0x803, 1 << 24, 256, 256)
open(path("idx", "header_announces_gigabytes"), "wb").write(struct.pack("<I", len(images)) + images + labels)


# safetensors: a block index beyond int64 (a signed overflow parsing it in pretrained.cpp).
def safetensors(tensors):
    import json
    header, blob = {}, b""
    for name, arr in tensors.items():
        b = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [len(blob), len(blob) + len(b)]}
        blob += b
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


open(path("safetensors", "block_index_overflow.safetensors"), "wb").write(safetensors({
    "patch_embed.proj.weight": np.zeros((8, 1, 4, 4)),
    "blocks.99999999999999999999.norm1.weight": np.zeros(8),
}))

# ini: embed_dim so large that embed_dim * mlp_ratio overflowed int64 (float-to-int UB), then an error naming the
# wrong key; an integer key beyond int64 ("error: stoll").
open(path("ini", "absurd_embed_dim.ini"), "w").write("[model]\nembed_dim = 4000000000000000000\n")
open(path("ini", "int_beyond_int64.ini"), "w").write("[train]\nepochs = 99999999999999999999999\n")
open(path("cli", "int_beyond_int64"), "wb").write(b"--batch-size\x0099999999999999999999999")
open(path("cli", "mlp_ratio_overflow"), "wb").write(b"--embed_dim\x001048576\x00--mlp_ratio\x001e300")
# What each must be refused with (tests/test_fuzz.cpp checks the first Error of the target's steps contains it).
EXPECT = {
    ("checkpoint", "metrics_columns_differ.h5"): "metrics columns differ in length",
    ("checkpoint", "metrics_epoch_huge.h5"): "metrics/epoch[0] = 8.98847e+307, expected an epoch number",
    ("checkpoint", "group_cycle.h5"): "groups nest deeper than 32 levels at '/loop/parent/parent",
    ("checkpoint", "dataset_larger_than_file.h5"): "dataset '/metrics/epoch' claims 1099511627776 values, more than the file holds",
    # found by fuzz_checkpoint: libhdf5 looped forever reading a variable-length string attribute (H5Aread ->
    # H5T__conv_vlen -> H5HG_read -> H5C_protect) of this file without a digest; now read in a child process first
    ("checkpoint", "vlen_string_hang_no_digest.h5"): "damaged (it has no digest, and libhdf5 cannot read all of it)",
    ("checkpoint", "dims_overflow.h5"): "dataset 'params/head.bias' claims more than 2^48 elements",
    ("checkpoint", "nine_bytes_inserted.h5"): "damaged: longer than written (79537 bytes, 79528 when written)",
    ("checkpoint", "nine_bytes_inserted_no_digest.h5"): "not an HDF5 file",
    ("checkpoint", "flipped_bit_in_tensor.h5"): "do not match the digest written with it (in tensor params/pos_embed)",
    ("npy", "shape_wraps_to_zero.npy"): "holds more than 2^48 elements",
    ("npy", "negative_dim.npy"): "expected dimensions as non-negative integers",
    ("idx", "header_announces_a_terabyte"): "t10k-images-idx3-ubyte: implausible dimensions 4294967295 x 65535 x 65535",
    ("idx", "header_announces_gigabytes"): "t10k-images-idx3-ubyte: truncated: expected 1099511627776 bytes of pixels",
    ("safetensors", "block_index_overflow.safetensors"): "the weights do not fit the model's architecture",
    # found by fuzz_ini: Boost.Program_options looped forever formatting the error for an invalid line holding its own
    # placeholder (%invalid_line%); '%' is now hidden from it
    ("ini", "percent_placeholder_loop.ini"): "the options configuration file contains an invalid line",
    ("ini", "absurd_embed_dim.ini"): "key 'embed_dim' = 4000000000000000000 is larger than 1048576",
    ("ini", "int_beyond_int64.ini"): "key 'epochs': expected an integer, got '99999999999999999999999'",
    ("cli", "int_beyond_int64"): "key 'batch_size': expected an integer, got '99999999999999999999999'",
    ("cli", "mlp_ratio_overflow"): "key 'mlp_ratio' must be positive with int(embed_dim * mlp_ratio) in [1, 1048576)",
}
for (target, name), text in EXPECT.items():
    open(path(target, name + ".expect"), "w").write(text + "\n")
print("regressions written to", OUT)
