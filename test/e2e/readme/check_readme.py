#!/usr/bin/env python3
"""Keeps README.md's commands true: every ```sh block must say how it is tested.

Each ```sh block in the README is preceded (on the line before its fence) by
one HTML comment that the rendered page hides:

  <!-- test: run [FLAGS...] -->   this script runs the block's commands, one
                                  by one, from a scratch directory laid out
                                  like the repository (build/,
                                  pretrain_models/, lite_data.tar, ...
                                  symlinked; images/ copied; output/ is the
                                  scratch's own).
                                  FLAGS are appended to every command of the
                                  block (the tools keep the last value of a
                                  repeated flag), so that a long documented
                                  run is checked as a short one, e.g.
                                  `--epochs=1 --data-path=lite_data`.
  <!-- test: ci -->              every command of the block is a line of
                                  .ci/run (CI runs it on a clean clone).
  <!-- test: ctest REGEX -->      a ctest test matching REGEX runs it (checked
                                  with `ctest -N -R REGEX`).

A block without a marker, an unknown marker, or a command that exits non-zero
fails the check, naming the README line. Usage:
  check_readme.py <source dir> <build dir>
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

MARKER = re.compile(r"^<!--\s*test:\s*(run|ci|ctest)\b(.*?)-->\s*$")


def blocks(readme):
    """Yields (line number of the fence, marker kind, marker args, commands)."""
    lines = open(readme, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            fence = i + 1
            prev = lines[i - 1].strip() if i > 0 else ""
            m = MARKER.match(prev)
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            # Join backslash continuations, drop comments and blank lines.
            cmds, cur = [], ""
            for raw in body:
                text = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
                if cur:
                    text = text.strip()
                if text.endswith("\\"):
                    cur += text[:-1] + " "
                    continue
                cur += text
                if cur.strip():
                    cmds.append(cur.strip())
                cur = ""
            if m is None:
                yield fence, None, prev, cmds
            else:
                yield fence, m.group(1), m.group(2).strip(), cmds
        i += 1


def scratch_dir(src, build):
    d = tempfile.mkdtemp(prefix="kiln-readme-")
    # images/ is copied, not linked: a documented command writes images/demo_results.
    shutil.copytree(os.path.join(src, "images"), os.path.join(d, "images"))
    for name in ("pretrain_models", "lite_data.tar", "test_tipc", "scripts",
                 "bench", "docs", "test", "runtime", "frontend", "compiler", "tools"):
        if os.path.exists(os.path.join(src, name)):
            os.symlink(os.path.join(src, name), os.path.join(d, name))
    os.symlink(build, os.path.join(d, "build"))
    return d


def main():
    if len(sys.argv) != 3:
        print("usage: check_readme.py <source dir> <build dir>", file=sys.stderr)
        return 2
    src, build = (os.path.abspath(p) for p in sys.argv[1:])
    readme = os.path.join(src, "README.md")
    ci = open(os.path.join(src, ".ci", "run"), encoding="utf-8").read().split("\n")
    ci = {line.strip() for line in ci}
    failures, ran = [], 0
    work = scratch_dir(src, build)
    env = dict(os.environ, KILN_CACHE_DIR=os.path.join(work, ".kiln-cache"))
    for fence, kind, args, cmds in blocks(readme):
        where = f"README.md:{fence}"
        if kind is None:
            failures.append(f"{where}: sh block without a '<!-- test: run|ci|ctest ... -->' marker "
                            f"on the line before it (found: {args!r})")
            continue
        if kind == "ci":
            for c in cmds:
                if c not in ci:
                    failures.append(f"{where}: '{c}' is marked 'ci' but is not a line of .ci/run")
            continue
        if kind == "ctest":
            out = subprocess.run(["ctest", "--test-dir", build, "-N", "-R", args],
                                 capture_output=True, text=True)
            m = re.search(r"Total Tests:\s*(\d+)", out.stdout)
            if not m or int(m.group(1)) == 0:
                failures.append(f"{where}: no ctest test matches '{args}'")
            continue
        extra = shlex.split(args)
        for c in cmds:
            cmd = c
            if extra:
                cmd = c + " " + " ".join(shlex.quote(a) for a in extra)
            print(f"[{where}] $ {cmd}", flush=True)
            r = subprocess.run(["bash", "-c", cmd], cwd=work, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            tail = "\n".join(r.stdout.rstrip().split("\n")[-5:])
            print(tail, flush=True)
            ran += 1
            if r.returncode != 0:
                failures.append(f"{where}: '{cmd}' exited {r.returncode}: {tail.splitlines()[-1] if tail else ''}")
    for f in failures:
        print("FAIL " + f, file=sys.stderr)
    if not failures:
        shutil.rmtree(work, ignore_errors=True)
    print(f"check_readme: ran {ran} commands, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
