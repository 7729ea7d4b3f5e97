#!/usr/bin/env python3
"""Writes the seed corpora of Tools/fuzz/corpus/<target>/ (a few small valid and invalid files each).
Run from Tools/fuzz; needs numpy for the pickles and Pillow for the images."""
import gzip, io, json, os, pickle, struct, subprocess, sys, tempfile
import numpy as np

RS = b"\x1e"
def put(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    with open(f"corpus/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def voc_xml(name="cat", box=(2, 3, 12, 14), filename="a.jpg"):
    x0, y0, x1, y1 = box
    return (f"<annotation><folder>VOC2012</folder><filename>{filename}</filename><size><width>16</width><height>16</height>"
            f"<depth>3</depth></size><object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x0}</xmin>"
            f"<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object></annotation>\n")

# XML
put("fuzz-xml", "voc.xml", '<?xml version="1.0"?>\n' + voc_xml())
put("fuzz-xml", "entities.xml", "<a x=\"&amp;&lt;&#65;&#x42;\"><![CDATA[<b>]]><!-- c --><b>t&gt;</b></a>")
put("fuzz-xml", "truncated.xml", voc_xml()[:70])
put("fuzz-xml", "deep.xml", "<a>" * 80 + "</a>" * 80)

# Pickles
def np_pickle(a, protocol):
    return pickle.dumps(a, protocol=protocol)
put("fuzz-pickle", "u1-p2.pkl", np_pickle(np.arange(12, dtype=np.uint8).reshape(3, 4), 2))
put("fuzz-pickle", "i8-p3.pkl", np_pickle(np.array([0, 1, 1, 0], dtype=np.int64), 3))
put("fuzz-pickle", "f4-p5.pkl", np_pickle(np.array([0.5, -1.0], dtype=np.float32), 5))
put("fuzz-pickle", "truncated.pkl", np_pickle(np.arange(6, dtype=np.uint8), 3)[:-9])
put("fuzz-pickle", "not-numpy.pkl", pickle.dumps({"a": [1, 2, (3, b"x")]}, protocol=4))

# Safetensors
def safetensors(tensors, metadata=None, pad=True):
    header, data = {}, b""
    if metadata: header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad: h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data
good = safetensors([("fc.bias", "F32", [2], struct.pack("<2f", 0.5, -1)),
                    ("fc.weight", "F16", [2, 2], struct.pack("<4e", 1, 2, 3, 4)),
                    ("bn.num_batches_tracked", "I64", [], struct.pack("<q", 7))], {"epoch": "2"})
put("fuzz-safetensors", "good.safetensors", good)
put("fuzz-safetensors", "bf16-f64.safetensors", safetensors([("a", "BF16", [1], b"\x80\x3f"), ("b", "F64", [1], struct.pack("<d", 2.5))]))
put("fuzz-safetensors", "truncated.safetensors", good[:-3])
put("fuzz-safetensors", "overlap.safetensors", struct.pack("<Q", 70) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'[:70] + b"\0" * 4)
put("fuzz-safetensors", "huge-length", struct.pack("<Q", 1 << 62) + b"{}")

# IDX
def idx(arr):
    return bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.astype(np.uint8).tobytes()
put("fuzz-idx", "images-idx3-ubyte", idx(np.arange(2 * 3 * 3).reshape(2, 3, 3)))
put("fuzz-idx", "labels-idx1-ubyte.gz", gzip.compress(idx(np.array([0, 8, 3])), mtime=0))
put("fuzz-idx", "short-idx3-ubyte", idx(np.arange(2 * 3 * 3).reshape(2, 3, 3))[:-4])
put("fuzz-idx", "int32-type", bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 0, 5]))
put("fuzz-idx", "bad-crc.gz", gzip.compress(idx(np.array([1, 2])), mtime=0)[:-8] + b"\0" * 8)

# JSON
put("fuzz-json", "header.json", good[8:8 + struct.unpack("<Q", good[:8])[0]])
put("fuzz-json", "manifest.json", json.dumps({"composite": True, "description": "objects on photographs \u00e9\ud83d\ude00", "n": [1, 2.5e-3, -0.0, None, False]}))
put("fuzz-json", "escapes.json", '{"a\\u0000b":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"\\ud83d\\ude00":"x"}')
put("fuzz-json", "duplicate.json", '{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":1}')
put("fuzz-json", "deep.json", "[" * 200 + "]" * 200)
put("fuzz-json", "bad-number.json", '{"a":{"dtype":"F32","shape":[1e999],"data_offsets":[-0,1.5]}}')

# Images (Pillow)
from PIL import Image
def encode(img, fmt, **kw):
    b = io.BytesIO(); img.save(b, fmt, **kw); return b.getvalue()
grad = Image.new("RGB", (16, 16))
grad.putdata([(16 * x, 255 - 16 * y, 90) for y in range(16) for x in range(16)])
jpg = encode(grad, "JPEG", quality=80)
gray = encode(grad.convert("L").resize((8, 8)), "JPEG", quality=70)
prog = encode(grad.resize((16, 8)), "JPEG", progressive=True)
cmyk = encode(grad.resize((8, 8)).convert("CMYK"), "JPEG")
png = encode(grad.resize((8, 8)), "PNG")
pal = encode(grad.resize((8, 8)).quantize(4), "PNG")
rgba = encode(Image.new("RGBA", (8, 8), (10, 200, 30, 128)), "PNG")
g16 = encode(Image.new("I;16", (4, 4), 1000), "PNG")
for name, data in [("a.jpg", jpg), ("gray.jpg", gray), ("progressive.jpg", prog), ("cmyk.jpg", cmyk), ("a.png", png),
                   ("palette.png", pal), ("rgba.png", rgba), ("gray16.png", g16)]:
    put("fuzz-image", name, data)
put("fuzz-image", "truncated.jpg", jpg[: len(jpg) // 2])
put("fuzz-image", "bad-signature.png", png[:4] + b"\n\x1a\n" + png[7:])

# Archive layouts: the members joined by 0x1E.
put("fuzz-cub", "good", RS.join([b"1 001.A/a.jpg\n2 002.B/b.jpg\n", b"1 001.A\n2 002.B\n", b"1 1\n2 2\n", b"1 1\n2 0\n",
                                 b"1 2.0 3.0 10.0 9.0\n2 0 0 16 16\n", b'{"composite": true, "description": "fuzz seed"}']))
put("fuzz-cub", "crlf-bad-box", RS.join([b"1 001.A/a.jpg\r\n2 002.B/b.jpg\r\n", b"1 001.A\r\n2 002.B\r\n", b"1 1\r\n2 9\r\n",
                                         b"1 1\r\n2 0\r\n", b"1 2.0 3.0 -10.0 nan\r\n2 0 0 99999999999999999999 16\r\n"]))
put("fuzz-cub", "missing-ids", RS.join([b"1 001.A/a.jpg\n", b"1 001.A\n", b"3 1\n", b"1 1\n1 0\n", b""]))
put("fuzz-voc", "good", RS.join([b"a\n", b"a\n", voc_xml().encode()]))
put("fuzz-voc", "bad", RS.join([b"a\r\nmissing\n", b"", voc_xml("unicorn", (12, 14, 2, 3)).encode()]))
put("fuzz-tinyimagenet", "good", RS.join([b"n01443537\n", b"n01443537\tgoldfish, Carassius auratus\n",
                                          b"n01443537_0.JPEG\t2\t3\t12\t13\n", b"val_0.JPEG\tn01443537\t0\t0\t15\t15\n"]))
put("fuzz-tinyimagenet", "bad", RS.join([b"n01443537\nn01443537\n", b"junk", b"n01443537_0.JPEG\t20\t3\t1\n",
                                         b"val_0.JPEG\tn99999999\t0\t0\t15\t15\n"]))
put("fuzz-ilsvrc", "good", RS.join([b"n02084071 1 dog\nn02121808 2 domestic_cat\n",
                                    voc_xml("n02084071", (1, 1, 10, 10)).encode(), voc_xml("n02121808", (0, 0, 15, 15)).encode()]))
put("fuzz-ilsvrc", "bad", RS.join([b"n02084071\n", voc_xml("n02084071", (1, 1, 1e9, -3)).encode()[:-20], b"<annotation/>"]))
print("seeds written")
