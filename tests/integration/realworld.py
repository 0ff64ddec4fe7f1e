"""Real third-party C and C++ programs, fetched at test time, JIT-run against a native build.

Each program is a crossjit profile generated here: its sources come from a PyPI sdist that
vendors them (pinned by version and sha256, fetched by crossjit's own fetcher into the
cache, never committed). The native build uses the same sources, defines and flags with
the host's clang-16; its stdout and exit status are the oracle. docs/realworld.md lists them.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crossjit.errors import CrossjitError

HERE = Path(__file__).resolve().parent
DRIVERS = HERE.parent / "realworld"


@dataclass(frozen=True)
class Program:
    name: str
    pypi: str  # NAME==VERSION of the sdist vendoring the sources ("" with url)
    sha256: str
    subpath: str  # the vendored directory inside the sdist
    sources: Callable[[Path], list[Path]]  # the program's sources, given the fetched tree
    include: tuple[str, ...] = ()  # relative to the fetched tree
    defines: tuple[str, ...] = ()
    cflags: tuple[str, ...] = ()
    cxx: bool = False
    threads: bool = False
    opt: int = 2
    debug: bool = False
    url: str = ""  # instead of pypi: an archive (npm tarball, Debian orig tarball)

    def __str__(self) -> str:
        return self.name

    def fetched(self) -> Path:
        from crossjit.project.fetch import fetch
        from crossjit.project.profile import ArchiveSource, FetchSpec, PypiSource

        spec: FetchSpec = (
            ArchiveSource(url=self.url, sha256=self.sha256, subpath=self.subpath)
            if self.url else PypiSource(pypi=self.pypi, sha256=self.sha256,
                                        subpath=self.subpath))
        try:
            return fetch(self.name, spec)
        except CrossjitError as exc:
            from tests.prereq import missing

            missing(f"cannot fetch {self.name} ({self.url or self.pypi}): {exc.what}")

    def profile(self, where: Path) -> Path:
        """A crossjit profile building this program from the same fetched tree."""
        tree = self.fetched()
        lines = [f"name: rw-{self.name}", "fetch:", f"  {self.name}:",
                 f"    url: {self.url}" if self.url else f"    pypi: {self.pypi}",
                 f"    sha256: {self.sha256}",
                 *([f"    subpath: {self.subpath}"] if self.subpath else []), "sources:"]
        for src in self.sources(tree):
            rel = src.relative_to(tree) if src.is_relative_to(tree) else None
            lines.append(f"  - \"@{self.name}/{rel}\"" if rel else f"  - \"{src}\"")
        lines.append("include: [" + ", ".join(f"\"@{self.name}/{i}\"" if i else
                                               f"\"@{self.name}\"" for i in self.include) + "]")
        lines.append("defines: [" + ", ".join(f"\"{d}\"" for d in self.defines) + "]")
        lines.append("cflags: [" + ", ".join(f"\"{f}\"" for f in self.cflags) + "]")
        lines.append(f"opt: {self.opt}")
        lines.append(f"debug: {str(self.debug).lower()}")
        path = where / f"rw-{self.name}.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def native(self, where: Path) -> Path:
        """The natively built program (clang-16, the same sources, defines and flags)."""
        exe = where / f"{self.name}-native"
        if not exe.exists():
            tree = self.fetched()
            cc = "clang++-16" if self.cxx else "clang-16"
            cmd = [cc, f"-O{self.opt}", *(["-g"] if self.debug else []), *self.cflags,
                   *(f"-D{d}" for d in self.defines),
                   *(f"-I{tree / i}" for i in self.include),
                   *map(str, self.sources(tree)), "-o", str(exe), "-lm",
                   *(["-pthread"] if self.threads else [])]
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        return exe


def _lua_sources(tree: Path) -> list[Path]:
    # lua.c (the stand-alone interpreter) and the library; not luac.c (a second main),
    # ltests.c (internal testing hooks) or onelua.c (everything again in one file).
    skip = {"luac.c", "ltests.c", "onelua.c"}
    return sorted(p for p in tree.glob("*.c") if p.name not in skip)


def _brotli_sources(tree: Path) -> list[Path]:
    return [*sorted(tree.glob("common/*.c")), *sorted(tree.glob("dec/*.c")),
            *sorted(tree.glob("enc/*.c")), tree / "tools" / "brotli.c"]


LUA = Program(
    "lua", "lupa==2.2", "665a006bcf8d9aacdfdb953824b929d06a0c55910a662b59be2f157ab4c8924d",
    "third-party/lua54", _lua_sources, include=("",), defines=("LUA_USE_POSIX",))
BROTLI = Program(
    "brotli", "Brotli==1.1.0",
    "81de08ac11bcb85841e440c13611c00b67d3bf82698314928d0b676362546724", "c",
    _brotli_sources, include=("include",))
ZSTD = Program(
    "zstd", "zstandard==0.23.0",
    "b2d8c62d08e7255f68f7a740bae85b3c9b8e5466baa9cbf7f57f1cde0ac6bc09", "zstd",
    lambda tree: [tree / "zstd.c", DRIVERS / "zstd_mt.c"], include=("",), threads=True)
# farm.cc's own self-test (FARMHASHSELFTEST): nine hash families checked against their
# expected values from C++ static initialisers. Its C++17 std::data clashes with the
# test's global `data`, hence -std=c++14; the SSE4.2/AES variants need -msse4.2 -maes
# (clang records them per function, so the JIT's codegen follows without target features).
FARMHASH = Program(
    "farmhash", "cityhash==0.4.10",
    "7e35da9aaf5fcf91da3fea23405874db55ffa58b1abc441d39cce0c8704a9c15", "src",
    lambda tree: [tree / "farm.cc", DRIVERS / "selftest_main.cc"], include=("",),
    defines=("FARMHASHSELFTEST=1",), cflags=("-std=c++14", "-msse4.2", "-maes"),
    cxx=True)

# Lua 5.4's own test scripts (testes/) whose output is deterministic (not sort.lua or
# math.lua: they print timings and random seeds), run by one interpreter as all.lua does.
LUA_TESTES = ("strings", "tpack", "utf8", "nextvar", "vararg", "closure", "goto", "literals",
              "bitwise", "pm", "events", "calls")


def lua_args(tree: Path) -> list[str]:
    d = f"{tree / 'testes'}/"
    names = ",".join(f"'{t}'" for t in LUA_TESTES)
    return ["-e", f"local d='{d}' package.path=d..'?.lua;'..package.path "
                  f"for _,t in ipairs{{{names}}} do dofile(d..t..'.lua') end print('done')"]


def workload(where: Path, size: int = 4_500_000) -> Path:
    """Deterministic text of ``size`` bytes (seeded words), compressible but not trivially."""
    path = where / "workload.txt"
    if not path.exists():
        r = random.Random(14)
        words = ["".join(r.choice("abcdefghij") for _ in range(r.randint(2, 9)))
                 for _ in range(3000)]
        text = " ".join(r.choice(words) for _ in range(size // 6))
        path.write_text(text[:size])
    return path


# --- big programs (issue 14 item 7; tests/integration/test_big_programs.py, bench/) -------

# SQLite 3.50.4's amalgamation, one translation unit of 262,916 lines, as the npm package
# better-sqlite3 ships it (deps/sqlite3); driven by tests/realworld/sqlite_workload.c.
SQLITE = Program(
    "sqlite", "", "14398acbf00d1e8fe0a2753df7d4f15c13138e4b874f4e6e96791f65b4536d0d",
    "deps/sqlite3", lambda tree: [tree / "sqlite3.c", DRIVERS / "sqlite_workload.c"],
    include=("",), defines=("SQLITE_ENABLE_FTS5", "SQLITE_ENABLE_RTREE",
                            "SQLITE_ENABLE_MATH_FUNCTIONS", "SQLITE_THREADSAFE=0",
                            "SQLITE_OMIT_LOAD_EXTENSION"),
    url="https://registry.npmjs.org/better-sqlite3/-/better-sqlite3-12.4.1.tgz")
SQLITE_LINES = 262_916  # sqlite3.c, counted with wc -l (test_big_programs checks it)


def _mbedtls_sources(tree: Path) -> list[Path]:
    # The whole library (96 files) and its own self-test program.
    return [*sorted(tree.glob("library/*.c")), tree / "programs" / "test" / "selftest.c"]


# Mbed TLS 2.28.3 (Debian bookworm's orig tarball, sha256 as in mbedtls_2.28.3-1.dsc):
# 97 C files, about 100k lines; `selftest` runs the library's own self-tests.
MBEDTLS = Program(
    "mbedtls", "", "3b4953aa55a681e084d31892d9904cc5328d6b4958ea57b90ae4b4f94ae69a8d", "",
    _mbedtls_sources, include=("include",),
    url="https://deb.debian.org/debian/pool/main/m/mbedtls/mbedtls_2.28.3.orig.tar.gz")
MBEDTLS_FILES = 97
# Every self-test but `timing` (it measures this machine's timers: no fixed output).
MBEDTLS_ARGS = ("-x", "timing")
