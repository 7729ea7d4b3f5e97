#!/usr/bin/env python3
"""Writes the seed corpora of the mesh, point-collection and text fuzzers (Tools/fuzz/corpus/<target>/):
a few small valid files per format and a few damaged ones. Run from Tools/fuzz; standard library only.
Inputs that once crashed or hung a reader are committed next to them by hand (named crash-* / hang-*)."""
import json, os, struct

RS = b"\x1e"
def put(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    with open(f"corpus/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

BOX_V = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]
BOX_F = [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [2, 3, 7, 6], [1, 2, 6, 5], [0, 4, 7, 3]]
TETRA_V = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
TETRA_F = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]

# OFF
def off(v, f, glued=False):
    s = f"OFF{len(v)} {len(f)} 0\n" if glued else f"OFF\n# comment\n{len(v)} {len(f)} 0\n"
    s += "".join(f"{x} {y} {z}\n" for x, y, z in v)
    return s + "".join(f"{len(q)} " + " ".join(map(str, q)) + "\n" for q in f)
put("fuzz-off", "box.off", off(BOX_V, BOX_F))
put("fuzz-off", "glued.off", off(TETRA_V, TETRA_F, glued=True))
put("fuzz-off", "coff.off", "COFF\n3 1 0\n0 0 0 255 0 0 255\n1 0 0 255 0 0 255\n0 1 0 255 0 0 255\n3 0 1 2 255 0 0\n")
put("fuzz-off", "truncated.off", off(BOX_V, BOX_F)[:90])
put("fuzz-off", "bad-index.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1.5e-3 -2E+1\n3 0 1 7\n")

# PLY
def ply_header(fmt, nv, nf, extra=""):
    return (f"ply\nformat {fmt} 1.0\ncomment fuzz seed\nelement vertex {nv}\nproperty float x\nproperty float y\n"
            f"property float z\nproperty uchar red\n{extra}element face {nf}\nproperty list uchar int vertex_indices\nend_header\n")
ascii_body = "".join(f"{x} {y} {z} 200\n" for x, y, z in TETRA_V) + "".join(f"3 {a} {b} {c}\n" for a, b, c in TETRA_F)
put("fuzz-ply", "ascii.ply", ply_header("ascii", 4, 4) + ascii_body)
for order, name in (("<", "binary_little_endian"), (">", "binary_big_endian")):
    body = b"".join(struct.pack(order + "fffB", x, y, z, 7) for x, y, z in TETRA_V)
    body += b"".join(struct.pack(order + "Biii", 3, a, b, c) for a, b, c in TETRA_F)
    put("fuzz-ply", f"{name}.ply", ply_header(name, 4, 4).encode() + body)
# Every scalar type, a list in another element, an element after the faces.
types = "ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty double x\nproperty int16 y\nproperty uint32 z\nproperty char a\nproperty ushort b\nproperty int c\nproperty list ushort uint vertex_index\nelement face 1\nproperty list uint8 uint32 vertex_index\nelement edge 1\nproperty int v1\nproperty int v2\nend_header\n"
body = b"".join(struct.pack("<dhIbHiH", x, int(y), int(z), -1, 2, 3, 0) for x, y, z in [(0.5, 0, 0), (1, 0, 1), (0, 1, 1)])
body += struct.pack("<BIII", 3, 0, 1, 2) + struct.pack("<ii", 0, 1)
put("fuzz-ply", "types.ply", types.encode() + body)
put("fuzz-ply", "truncated.ply", (ply_header("binary_little_endian", 4, 4).encode() + body)[:-5])

# STL
def stl_ascii(tris):
    s = "solid fuzz\n"
    for t in tris:
        s += "  facet normal 0 0 1\n    outer loop\n" + "".join(f"      vertex {x} {y} {z}\n" for x, y, z in t) + "    endloop\n  endfacet\n"
    return s + "endsolid fuzz\n"
def stl_binary(tris, header=b"binary stl"):
    out = header.ljust(80, b"\0") + struct.pack("<I", len(tris))
    for t in tris:
        out += struct.pack("<3f", 0, 0, 1) + b"".join(struct.pack("<3f", *p) for p in t) + b"\0\0"
    return out
TRIS = [[TETRA_V[i] for i in f] for f in TETRA_F]
put("fuzz-stl", "ascii.stl", stl_ascii(TRIS))
put("fuzz-stl", "binary.stl", stl_binary(TRIS))
put("fuzz-stl", "solid-header.stl", stl_binary(TRIS[:2], b"solid but binary"))
put("fuzz-stl", "truncated.stl", stl_binary(TRIS)[:-20])
put("fuzz-stl", "quad-loop.stl", "solid q\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 1 1 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid q\n")

# OBJ
obj = "# made by hand\r\nmtllib box.mtl\r\no box\r\n" + "".join(f"v {x} {y} {z}\r\n" for x, y, z in BOX_V)
obj += "vn 0 0 1\r\nvt 0 0\r\nusemtl red\r\ng sides\r\ns off\r\n" + "".join("f " + " ".join(f"{i + 1}/1/1" for i in q) + "\r\n" for q in BOX_F)
put("fuzz-obj", "box.obj", obj)
put("fuzz-obj", "forms.obj", "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0 1.0\nf 1 2 3\nf 1/1 3/1 4/1\nf 1//1 3//1 4//1\nf -4 -3 -2 -1\nl 1 2\n")
put("fuzz-obj", "edges.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\nf 1 2 3\n")
put("fuzz-obj", "out-of-range.obj", "v 0 0 0\nv 1 0 0\nf 1 2 9\n")

# Point-background archives: manifest RS point file RS point list / catalogue properties.
def manifest(points, background):
    src = [{"object": "b/x.obj", "className": "b", "points": list(range(background))}] if background else []
    samples = [{"file": f"kd-point-background/samples/{s}/000000.f32", "split": s, "className": "a", "object": "a/y.obj",
                "copy": 0, "foreground": points, "background": src} for s in ("train", "test")]
    return json.dumps({"format": "kd-point-background/1", "name": "SYNTHETIC fuzz", "note": "seed", "seed": 3,
                       "points": points, "background": background, "backgroundClouds": 1, "testFraction": 0.5,
                       "studentFraction": 0.1, "copies": 1, "classes": ["a", "b"], "sources": ["a.sh3f sha256 00"],
                       "skipped": [], "samples": samples}, indent=1).encode()
cloud = b"".join(struct.pack("<3f", 0.1 * k, -0.2 * k, 0.05) for k in range(3))
properties = (b"# catalogue\nid=fuzz\nname#1=Office chair\ncategory#1=Chairs\nmodel#1=/models/chair.obj\n"
              b"name#2=Table\\\n   lamp\ncategory#2: Lights\nmodel#2 /models/lamp.zip\ncreator#2=\\u00e9l\\t\xe9\n")
put("fuzz-point-background", "good", manifest(2, 1) + RS + cloud + RS + b"1,2,3,0,0,1\n4 5 6\n")
put("fuzz-point-background", "no-background", manifest(3, 0) + RS + cloud + RS + properties)
put("fuzz-point-background", "short-cloud", manifest(2, 1) + RS + cloud[:-4] + RS + b"nan,0,0\n")

# SQuAD
ctx = "Paris is the capital of France. Unbelievable, the film é中 was not very good!"
squad1 = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": ctx, "qas": [
    {"id": "q1", "question": "What is the capital of France?", "answers": [{"text": "Paris", "answer_start": 0}, {"text": "Paris", "answer_start": 0}]},
    {"id": "q2", "question": "Was the film good?", "answers": [{"text": "not very good", "answer_start": ctx.index("not")}]}]}]}]}
put("fuzz-squad", "v1.json", json.dumps(squad1))
squad2 = {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": ctx, "qas": [
    {"id": "i", "question": "Who?", "answers": [], "is_impossible": True},
    {"id": "bad", "question": "Where?", "answers": [{"text": "Lyon", "answer_start": 3}]},
    {"id": "far", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 900}]},
    {"id": "ok", "question": "Which country?", "answers": [{"text": "France", "answer_start": ctx.index("France")}]}]}]},
    {"paragraphs": "not an array"}]}
put("fuzz-squad", "v2.json", json.dumps(squad2, ensure_ascii=False, indent=1))
put("fuzz-squad", "escapes.json", '{"data":[{"paragraphs":[{"context":"a\\u00e9\\ud83d\\ude00 b","qas":[{"id":"x","question":"b?","answers":[{"text":"b","answer_start":4.0}]}]}]}]}')

# TSV: Rotten Tomatoes snippets RS SST-2 RS VADER lexicon.
snippets = b"1\t2.266667\tThe film is great , and not boring .\r\n5\t-1.5\tBad , very bad .\r\n7\t0\tneutral one\r\n8\tx\tbad row\r\n"
sst2 = b"sentence\tlabel\nthe movie is good \t1\nnot a good film \t0\nno label\n\xff\xfe bad utf8\t1\n"
lexicon = b"good\t1.9\t0.9\t[2, 2, 1]\ngreat\t3.1\t0.7\t[3, 3]\nbad\t-2.5\t0.5\t[-2, -3]\n"
put("fuzz-tsv", "good", snippets + RS + sst2 + RS + lexicon)
put("fuzz-tsv", "bad-lexicon", snippets[:40] + RS + b"sentence\tlabel\r\nok\t2\n" + RS + b"good\t9\n")

# vocab.txt RS text to tokenise
vocab = "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "un", "##believ", "##able", "film", "é", "中", "!", ",", "##s"]) + "\n"
text = "Unbelievable, THE films! Café 中文 \u0000\u200b\ufffd naïve résumé " + "x" * 120
put("fuzz-vocab", "good", vocab.encode() + RS + text.encode())
put("fuzz-vocab", "crlf", vocab.replace("\n", "\r\n").encode() + RS + b"the film\tthe\r\nfilm")
put("fuzz-vocab", "duplicate", b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nthe\n" + RS + b"the")
put("fuzz-vocab", "no-specials", b"the\nfilm\n\n" + RS + b"the film")
print("seeds written")
