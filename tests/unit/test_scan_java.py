"""The Java component scanner (``plugins/scan_java``) over class files that real ``javac`` and
``jar`` build here, plus class files written byte by byte for what javac never emits.

The application's sources are in ``java_fixtures/`` (each says what it covers). The batch API
and ``@Named`` are compiled with them from stubs written here, but only the application's
classes are packaged: as in real life, the runtime provides the API, so the scanner must know
what ``AbstractBatchlet`` and friends implement without seeing them.
"""
from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from jsbus.backends import COMPONENT_KINDS, BatchComponent
from jsbus.config import load_bus_config
from jsbus.plugins import PluginHost
from jsbus_plugins.scan_java import scan
from jsbus_plugins.scan_java.classfile import ClassFormatError, parse_class
from jsbus_plugins.scan_java.classpath import ReadLimits

JAVAC, JAR = shutil.which("javac"), shutil.which("jar")
needs_jdk = pytest.mark.skipif(not (JAVAC and JAR), reason="needs javac and jar")
CONFIG = load_bus_config(environ={})

# Stubs of the API: empty interfaces are enough for javac and for the scanner.
API_INTERFACES = ["Batchlet", "Decider", "chunk.ItemReader", "chunk.ItemWriter",
                  "listener.JobListener", "listener.StepListener",
                  "chunk.listener.ItemReadListener", "partition.PartitionReducer"]
API_ABSTRACT_CLASSES = {"AbstractBatchlet": "Batchlet",
                        "listener.AbstractJobListener": "listener.JobListener",
                        "partition.AbstractPartitionReducer": "partition.PartitionReducer"}
NAMED = ("package {ns}.inject; import java.lang.annotation.*; @Retention(RetentionPolicy.RUNTIME)"
         " @Target(ElementType.TYPE) public @interface Named {{ String value() default \"\"; }}")

FIXTURES = Path(__file__).parent / "java_fixtures"  # base.jar's and app.jar's sources
APP = "com.example.app."
EXPECTED = {  # (kind, ref, class name) found in app.jar
    ("batchlet", APP + "DirectBatchlet", APP + "DirectBatchlet"),
    ("batchlet", "cleanup", APP + "CleanupBatchlet"),
    ("item-reader", "csvReader", APP + "CsvReader"),
    ("item-writer", APP + "FileWriter", APP + "FileWriter"),
    ("item-reader", APP + "ReaderWriter", APP + "ReaderWriter"),
    ("item-writer", APP + "ReaderWriter", APP + "ReaderWriter"),
    ("listener", APP + "AuditListener", APP + "AuditListener"),
    ("decider", "route", APP + "RouteDecider"),
    ("partition-reducer", "totalReducer", APP + "TotalReducer"),
    ("batchlet", "innerBatchlet", APP + "Outer$InnerBatchlet"),
}


def api_sources() -> dict[str, str]:
    sources = {}
    for ns in ("javax", "jakarta"):
        for dotted in API_INTERFACES:
            package, _, name = f"{ns}.batch.api.{dotted}".rpartition(".")
            sources[f"{package.replace('.', '/')}/{name}.java"] = \
                f"package {package}; public interface {name} {{}}"
        for dotted, interface in API_ABSTRACT_CLASSES.items():
            package, _, name = f"{ns}.batch.api.{dotted}".rpartition(".")
            sources[f"{package.replace('.', '/')}/{name}.java"] = \
                f"package {package}; public abstract class {name}" \
                f" implements {ns}.batch.api.{interface} {{}}"
        sources[f"{ns}/inject/Named.java"] = NAMED.format(ns=ns)
    return sources


def fixture_sources(jar_name: str) -> dict[str, str]:
    folder = FIXTURES / jar_name
    return {path.relative_to(folder).as_posix(): path.read_text()
            for path in sorted(folder.rglob("*.java"))}


def compile_java(sources: dict[str, str], root: Path) -> Path:
    for relative, text in sources.items():
        (root / "src" / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / "src" / relative).write_text(text)
    classes = root / "classes"
    subprocess.run([JAVAC, "-nowarn", "--release", "17", "-d", str(classes),
                    *(str(root / "src" / relative) for relative in sources)],
                   check=True, capture_output=True, timeout=60)
    return classes


def jar(path: Path, classes: Path, package: str) -> Path:
    subprocess.run([JAR, "cf", str(path), "-C", str(classes), package],
                   check=True, capture_output=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """base.jar, app.jar and a classes directory with app.jar's classes; javac runs once."""
    if not (JAVAC and JAR):
        pytest.skip("needs javac and jar")
    root = tmp_path_factory.mktemp("java")
    sources = {**api_sources(), **fixture_sources("base"), **fixture_sources("app")}
    classes = compile_java(sources, root)
    directory = root / "app-classes"
    shutil.copytree(classes / "com/example/app", directory / "com/example/app")
    return {"base": jar(root / "base.jar", classes, "com/example/base"),
            "app": jar(root / "app.jar", classes, "com/example/app"),
            "classes": directory, "all": classes}


def found(result) -> set[tuple[str, str, str]]:
    return {(c.kind, c.ref, c.class_name) for c in result.components}


def test_the_plugin_host_offers_the_java_scanner():
    assert "java" in [scanner.name for scanner in PluginHost(CONFIG).scanners()]


@pytest.mark.timeout(60)
def test_a_jar_lists_its_components_with_kind_ref_and_entry(built):
    result = scan([built["base"], built["app"]], CONFIG)

    assert result.problems == ()
    assert found(result) == EXPECTED
    assert {c.entry for c in result.components} == {str(built["app"])}
    assert {c.language for c in result.components} == {"java"}
    assert all(c.kind in COMPONENT_KINDS for c in result.components)
    assert [c.class_name for c in result.components] == \
        sorted(c.class_name for c in result.components)


@pytest.mark.timeout(60)
def test_a_classes_directory_reads_like_the_jar(built):
    result = scan([built["classes"], built["base"]], CONFIG)

    assert result.problems == ()
    assert found(result) == EXPECTED
    assert BatchComponent("decider", "route", APP + "RouteDecider", "java",
                          str(built["classes"])) in result.components


@pytest.mark.timeout(60)
def test_without_the_jar_of_its_superclass_a_class_is_not_recognised(built):
    refs = {ref for _, ref, _ in found(scan([built["app"]], CONFIG))}

    assert "csvReader" not in refs and APP + "FileWriter" not in refs
    assert "cleanup" in refs  # AbstractBatchlet comes from the API, never from the classpath


@pytest.mark.timeout(60)
def test_the_first_definition_of_a_class_on_the_classpath_wins(built):
    result = scan([built["classes"], built["app"], built["base"]], CONFIG)

    assert found(result) == EXPECTED
    assert {c.entry for c in result.components} == {str(built["classes"])}


@pytest.mark.timeout(60)
def test_the_api_itself_is_not_listed(built):
    """javax.batch.api.AbstractBatchlet is abstract: compiled API stubs yield nothing."""
    result = scan([built["all"]], CONFIG)

    assert found(result) == EXPECTED
    assert not [c for c in result.components if "batch.api" in c.class_name]


@pytest.mark.timeout(60)
def test_corrupt_class_files_and_archives_are_problems_not_exceptions(built, tmp_path):
    good = (built["classes"] / "com/example/app/CsvReader.class").read_bytes()
    broken = tmp_path / "broken.jar"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("com/example/Truncated.class", good[:len(good) // 2])
        archive.writestr("com/example/Text.class", b"not a class file")
        archive.writestr("com/example/app/CsvReader.class", good)
    classes = tmp_path / "classes"
    (classes / "com/example").mkdir(parents=True)
    (classes / "com/example/Empty.class").write_bytes(b"")
    not_a_zip = tmp_path / "not-a-zip.jar"
    not_a_zip.write_bytes(b"PK\x03\x04" + bytes(200))

    result = scan([broken, classes, not_a_zip, built["base"]], CONFIG)

    assert found(result) == {("item-reader", "csvReader", APP + "CsvReader")}
    problems = "\n".join(result.problems)
    assert len(result.problems) == 4, problems
    assert f"{broken}: com/example/Truncated.class: " in problems
    assert f"{broken}: com/example/Text.class: " in problems and "bad magic" in problems
    assert f"{classes}: com/example/Empty.class: " in problems
    assert f"{not_a_zip}: not a readable archive" in problems


def test_a_damaged_archive_member_is_a_problem(tmp_path):
    data = synthetic_class("p/Good", interfaces=("javax/batch/api/Batchlet",))
    damaged = tmp_path / "damaged.jar"
    with zipfile.ZipFile(damaged, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("p/Damaged.class", data * 20)
        archive.writestr("p/Good.class", data)
    with zipfile.ZipFile(damaged) as archive:
        member = archive.getinfo("p/Damaged.class")
    start = member.header_offset + 30 + len(member.filename)  # 30: the local header's fixed part
    raw = bytearray(damaged.read_bytes())
    raw[start + 4:start + 12] = bytes(8)  # inside the member's compressed data
    damaged.write_bytes(bytes(raw))

    result = scan([damaged], CONFIG)

    assert found(result) == {("batchlet", "p.Good", "p.Good")}
    assert len(result.problems) == 1 and "p/Damaged.class: cannot be read" in result.problems[0]


def test_entries_that_are_not_java_are_skipped_silently(tmp_path):
    wheel = tmp_path / "tool-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tool/__init__.py", "")
    python_zip = tmp_path / "scripts.zip"
    with zipfile.ZipFile(python_zip, "w") as archive:
        archive.writestr("job.py", "")
    (tmp_path / "job.py").write_text("")
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "steps.py").write_text("")

    result = scan([wheel, python_zip, tmp_path / "job.py", tmp_path / "src",
                   tmp_path / "missing.jar"], CONFIG)

    assert result == type(result)()


def test_oversized_class_files_are_skipped_with_a_problem(tmp_path):
    small = synthetic_class("p/Small", interfaces=("javax/batch/api/Batchlet",))
    large = synthetic_class("p/Large", interfaces=("javax/batch/api/Batchlet",), padding=4000)
    archive_path = tmp_path / "app.jar"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("p/Small.class", small)
        archive.writestr("p/Large.class", large)
    (tmp_path / "classes/p").mkdir(parents=True)
    (tmp_path / "classes/p/Large.class").write_bytes(large)

    result = scan([archive_path, tmp_path / "classes"], CONFIG,
                  limits=ReadLimits(class_bytes=1000))

    assert found(result) == {("batchlet", "p.Small", "p.Small")}
    assert sorted(result.problems) == [
        f"{archive_path}: p/Large.class: skipped, over the 1000-byte class file limit",
        f"{tmp_path / 'classes'}: p/Large.class: skipped, over the 1000-byte class file limit"]


def test_an_entry_stops_at_the_class_file_limit(tmp_path):
    (tmp_path / "p").mkdir()
    for n in range(5):
        data = synthetic_class(f"p/C{n}", interfaces=("javax/batch/api/Batchlet",))
        (tmp_path / "p" / f"C{n}.class").write_bytes(data)

    result = scan([tmp_path], CONFIG, limits=ReadLimits(class_files=3))

    assert [c.class_name for c in result.components] == ["p.C0", "p.C1", "p.C2"]
    assert result.problems == (f"{tmp_path}: stopped after 3 class files ({3 * len(data)} "
                               f"bytes): the entry is larger than a scan reads",)


def test_an_entry_stops_at_the_byte_limit(tmp_path):
    data = synthetic_class("p/C", interfaces=("javax/batch/api/Batchlet",))
    archive_path = tmp_path / "app.jar"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for n in range(3):
            archive.writestr(f"p/C{n}.class", data)

    result = scan([archive_path], CONFIG, limits=ReadLimits(entry_bytes=2 * len(data)))

    assert len(result.problems) == 1 and "stopped after 2 class files" in result.problems[0]


def test_problems_of_one_entry_are_summarized_past_fifty(tmp_path):
    for n in range(60):
        (tmp_path / f"C{n:02}.class").write_bytes(b"junk")

    problems = scan([tmp_path], CONFIG).problems

    assert len(problems) == 51 and problems[0].startswith(f"{tmp_path}: C00.class: ")
    assert problems[-1] == f"{tmp_path}: 10 more problems not listed"


def test_a_class_file_that_is_not_a_regular_file_is_not_opened(tmp_path):
    os.mkfifo(tmp_path / "Pipe.class")  # opening it would block until a writer comes

    assert scan([tmp_path], CONFIG).problems == \
        (f"{tmp_path}: Pipe.class: skipped, not a regular file",)


# --- The class file parser, over bytes written here --------------------------------------------

def mutf8(text: str) -> bytes:
    """Java's modified UTF-8: NUL as C0 80, other planes as surrogate pairs."""
    units = "".join(ch if ord(ch) < 0x10000 else
                    chr(0xD800 + ((ord(ch) - 0x10000) >> 10)) +
                    chr(0xDC00 + ((ord(ch) - 0x10000) & 0x3FF)) for ch in text)
    return units.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")


def synthetic_class(name: str, super_name: str | None = "java/lang/Object",
                    interfaces: tuple[str, ...] = (), access: int = 0x0021,
                    every_tag: bool = False, padding: int = 0) -> bytes:
    """A class file with no fields or methods; ``every_tag`` adds one constant of each kind."""
    pool: list[bytes] = []

    def add(raw: bytes, slots: int = 1) -> int:
        pool.extend([raw] + [b""] * (slots - 1))
        return len(pool) - slots + 1

    def utf8(text: str) -> int:
        return add(struct.pack(">BH", 1, len(mutf8(text))) + mutf8(text))

    def klass(text: str) -> int:
        return add(struct.pack(">BH", 7, utf8(text)))

    this, parent = klass(name), klass(super_name) if super_name else 0
    implemented = [klass(interface) for interface in interfaces]
    if every_tag:
        text, nat = utf8("x"), add(struct.pack(">BHH", 12, 1, 1))
        for raw, slots in [(struct.pack(">Bi", 3, 7), 1), (struct.pack(">Bf", 4, 0.5), 1),
                           (struct.pack(">Bq", 5, 1 << 40), 2), (struct.pack(">Bd", 6, 2.5), 2),
                           (struct.pack(">BH", 8, text), 1)] + \
                [(struct.pack(">BHH", tag, this, nat), 1) for tag in (9, 10, 11, 17, 18)] + \
                [(struct.pack(">BBH", 15, 6, 1), 1), (struct.pack(">BH", 16, text), 1),
                 (struct.pack(">BH", 19, text), 1), (struct.pack(">BH", 20, text), 1)]:
            add(raw, slots)
    if padding:
        utf8("p" * padding)
    head = struct.pack(">IHHH", 0xCAFEBABE, 0, 65, len(pool) + 1) + b"".join(pool)
    return head + struct.pack(f">HHHH{len(implemented)}HHHH", access, this, parent,
                              len(implemented), *implemented, 0, 0, 0)


def test_the_parser_reads_every_constant_pool_tag_and_modified_utf8():
    name = "p/Caf\u00e9\U0001F600\u0000Step"
    parsed = parse_class(synthetic_class(name, interfaces=("javax/batch/api/Batchlet",),
                                         every_tag=True))

    assert (parsed.name, parsed.super_name, parsed.interfaces) == \
        (name, "java/lang/Object", ("javax/batch/api/Batchlet",))
    assert parsed.simple_name == "Caf\u00e9\U0001F600\u0000Step"


@pytest.mark.timeout(60)
def test_every_truncation_and_random_damage_is_a_class_format_error(built):
    data = (built["classes"] / "com/example/app/DirectBatchlet.class").read_bytes()
    for end in range(len(data)):
        with pytest.raises(ClassFormatError):
            parse_class(data[:end])
    rng = random.Random(352)
    for _ in range(2000):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(8, len(data))] = rng.randrange(256)
        try:
            parse_class(bytes(damaged))
        except ClassFormatError:
            pass


def test_hostile_hierarchies_end(tmp_path):
    """A superclass cycle, and a chain deeper than any real one, neither hang nor raise."""
    (tmp_path / "p").mkdir()
    classes = [("p/A", "p/B"), ("p/B", "p/A")] + \
        [(f"p/D{n}", f"p/D{n + 1}") for n in range(2000)] + [("p/D2000", "p/Root")]
    for name, parent in classes:
        (tmp_path / f"{name}.class").write_bytes(
            synthetic_class(name, parent, interfaces=("javax/batch/api/Batchlet",)))

    result = scan([tmp_path], CONFIG)

    assert result.problems == ()
    assert {"p.A", "p.B", "p.D2000"} <= {c.class_name for c in result.components}


# --- Speed, measured and printed, not asserted ---------------------------------------------------

@needs_jdk
@pytest.mark.timeout(120)
def test_a_jar_of_2000_generated_classes(tmp_path, capsys):
    sources = {f"gen/C{n}.java": f"package gen; public class C{n} extends "
               f"javax.batch.api.AbstractBatchlet {{ public String process() {{ return \"C{n}\" "
               f"+ hashCode(); }} }}" for n in range(2000)}
    classes = compile_java({**api_sources(), **sources}, tmp_path)
    generated = jar(tmp_path / "generated.jar", classes, "gen")

    started = time.perf_counter()
    result = scan([generated], CONFIG)
    elapsed = time.perf_counter() - started

    assert len(result.components) == 2000 and result.problems == ()
    with capsys.disabled():
        print(f"\nscan_java: {len(result.components)} classes in "
              f"{generated.stat().st_size} bytes of jar: {elapsed:.3f} s")
