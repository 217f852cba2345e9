"""Writes the seed inputs of the idx_loader fuzz target into corpus/idx_loader/: valid
IDX image/label pairs (plain and gzipped, 0, 1 and 2 images) and a count mismatch, in the
target's layout (flags byte, little-endian u16 length of the images part, images, labels)."""
import gzip
import os
import struct

out = os.path.join(os.path.dirname(__file__), "corpus", "idx_loader")
os.makedirs(out, exist_ok=True)


def images(n):
    return struct.pack(">IIII", 0x803, n, 28, 28) + bytes((i * 7) % 256 for i in range(n * 784))


def labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))


def seed(name, img, lab, gz_img=False, gz_lab=False):
    if gz_img:
        img = gzip.compress(img, mtime=0)
    if gz_lab:
        lab = gzip.compress(lab, mtime=0)
    flags = (1 if gz_img else 0) | (2 if gz_lab else 0)
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([flags]) + struct.pack("<H", len(img)) + img + lab)


for n in (0, 1, 2):
    seed(f"plain-{n}", images(n), labels(n))
    seed(f"gz-{n}", images(n), labels(n), True, True)
seed("mixed-2", images(2), labels(2), True, False)
seed("mismatch", images(2), labels(3))
print(len(os.listdir(out)), "seeds in", out)
