"""Reads the parts of a JVM class file that a component scan needs, without a JVM.

Follows the class file format of the JVM specification, chapter 4: the constant pool (every tag
up to Java 21), the access flags, the class, its superclass and interfaces, and two class
attributes: ``RuntimeVisibleAnnotations`` (for ``@Named``) and ``InnerClasses`` (for how a
nested class was declared). Fields and methods are skipped. Names stay in the internal form
(``com/example/Outer$Inner``).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from jsbus.errors import JsbusError

ACC_PUBLIC = 0x0001
ACC_STATIC = 0x0008
ACC_INTERFACE = 0x0200
ACC_ABSTRACT = 0x0400
ACC_SYNTHETIC = 0x1000
ACC_ANNOTATION = 0x2000
ACC_ENUM = 0x4000
ACC_MODULE = 0x8000

MAGIC = 0xCAFEBABE
_U2 = struct.Struct(">H")
_U4 = struct.Struct(">I")
_UTF8, _CLASS, _LONG, _DOUBLE = 1, 7, 5, 6
# Bytes after the tag of every constant pool entry but Utf8 (JVMS table 4.4-B).
_CONSTANT_SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2,
                   17: 4, 18: 4, 19: 2, 20: 2}
_MAX_ANNOTATION_DEPTH = 32


class ClassFormatError(JsbusError):
    """Bytes that are not a readable class file; the message says what broke."""


@dataclass(frozen=True)
class JavaClass:
    """What a scan needs to know about one class."""

    name: str  # internal form: com/example/Outer$Inner
    access: int  # ACC_* flags of the class file
    super_name: str | None  # None for java/lang/Object and module-info
    interfaces: tuple[str, ...]
    # annotation type (internal name) -> its string-valued elements
    annotations: dict[str, dict[str, str]] = field(default_factory=dict)
    nested_access: int | None = None  # flags as declared, when the class is a nested one
    inner_name: str | None = None  # simple name as declared (None when anonymous)

    @property
    def simple_name(self) -> str:
        if self.inner_name:
            return self.inner_name
        return self.name.rpartition("/")[2]


class _Reader:
    """A cursor over ``data[position:end]`` that fails on reads past ``end``."""

    def __init__(self, data: bytes, position: int = 0, end: int | None = None):
        self.data, self.position = data, position
        self.end = len(data) if end is None else end

    def skip(self, count: int) -> int:
        start = self.position
        if start + count > self.end:
            raise ClassFormatError(f"truncated at byte {start} (needs {count} more)")
        self.position = start + count
        return start

    def u1(self) -> int:
        return self.data[self.skip(1)]

    def u2(self) -> int:
        return _U2.unpack_from(self.data, self.skip(2))[0]

    def u4(self) -> int:
        return _U4.unpack_from(self.data, self.skip(4))[0]


class _ConstantPool:
    """Entries are read as offsets; strings are decoded only when asked for."""

    def __init__(self, reader: _Reader):
        count = reader.u2()
        self.data = reader.data
        self.tags = bytearray(count)
        self.values = [0] * count  # Utf8: offset of its length; Class: index of its name
        index = 1
        while index < count:
            tag = reader.u1()
            self.tags[index], self.values[index] = tag, reader.position
            if tag == _UTF8:
                reader.skip(reader.u2())
            elif tag in _CONSTANT_SIZES:
                reader.skip(_CONSTANT_SIZES[tag])
                if tag == _CLASS:
                    self.values[index] = _U2.unpack_from(self.data, reader.position - 2)[0]
            else:
                raise ClassFormatError(f"unknown constant pool tag {tag} at entry {index}")
            index += 2 if tag in (_LONG, _DOUBLE) else 1

    def _checked(self, index: int, tag: int, what: str) -> int:
        if not 0 < index < len(self.tags) or self.tags[index] != tag:
            raise ClassFormatError(f"constant pool entry {index} is not a {what}")
        return self.values[index]

    def raw_utf8(self, index: int) -> bytes:
        offset = self._checked(index, _UTF8, "Utf8")
        length = _U2.unpack_from(self.data, offset)[0]
        return self.data[offset + 2:offset + 2 + length]

    def utf8(self, index: int) -> str:
        return decode_modified_utf8(self.raw_utf8(index))

    def class_name(self, index: int) -> str:
        return self.utf8(self._checked(index, _CLASS, "Class"))


def decode_modified_utf8(raw: bytes) -> str:
    """Class files encode NUL as C0 80 and other planes as surrogate pairs (JVMS 4.4.7)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def parse_class(data: bytes) -> JavaClass:
    """Read one class file; raises :class:`ClassFormatError` for anything unreadable."""
    try:
        return _parse(_Reader(data))
    except (struct.error, IndexError, UnicodeError, RecursionError) as exc:
        raise ClassFormatError(f"malformed: {exc}") from None


def _parse(reader: _Reader) -> JavaClass:
    if reader.u4() != MAGIC:
        raise ClassFormatError("not a class file (bad magic number)")
    reader.skip(4)  # minor and major version: the layout read here is the same in all of them
    pool = _ConstantPool(reader)
    access, this_index, super_index = reader.u2(), reader.u2(), reader.u2()
    name = pool.class_name(this_index)
    super_name = pool.class_name(super_index) if super_index else None
    interfaces = tuple(pool.class_name(reader.u2()) for _ in range(reader.u2()))
    for _ in range(2):  # fields, then methods: access, name, descriptor, attributes
        for _ in range(reader.u2()):
            reader.skip(6)
            _skip_attributes(reader)
    annotations, nested = {}, (None, None)
    for _ in range(reader.u2()):
        attribute_name, length = pool.raw_utf8(reader.u2()), reader.u4()
        start = reader.skip(length)
        body = _Reader(reader.data, start, start + length)
        if attribute_name == b"RuntimeVisibleAnnotations":
            annotations.update(_annotations(body, pool))
        elif attribute_name == b"InnerClasses":
            nested = _declaration(body, pool, this_index, name)
    return JavaClass(name, access, super_name, interfaces, annotations, *nested)


def _skip_attributes(reader: _Reader) -> None:
    for _ in range(reader.u2()):
        reader.skip(2)
        reader.skip(reader.u4())


def _declaration(body: _Reader, pool: _ConstantPool, this_index: int,
                 name: str) -> tuple[int | None, str | None]:
    """Flags and simple name from the InnerClasses entry about the class itself, when it is a
    nested class (JVMS 4.7.6); an anonymous class has no name."""
    for _ in range(body.u2()):
        inner, _, inner_name, flags = body.u2(), body.u2(), body.u2(), body.u2()
        if inner == this_index or pool.class_name(inner) == name:
            return flags, pool.utf8(inner_name) if inner_name else None
    return None, None


def _annotations(body: _Reader, pool: _ConstantPool) -> dict[str, dict[str, str]]:
    found = {}
    for _ in range(body.u2()):
        type_name, elements = _annotation(body, pool, 0)
        found[type_name] = elements
    return found


def _annotation(body: _Reader, pool: _ConstantPool, depth: int) -> tuple[str, dict[str, str]]:
    if depth > _MAX_ANNOTATION_DEPTH:
        raise ClassFormatError("annotations nested too deeply")
    descriptor = pool.utf8(body.u2())
    elements = {}
    for _ in range(body.u2()):
        element_name = pool.utf8(body.u2())
        value = _element_value(body, pool, depth)
        if value is not None:
            elements[element_name] = value
    return descriptor.removeprefix("L").removesuffix(";"), elements


def _element_value(body: _Reader, pool: _ConstantPool, depth: int) -> str | None:
    """The value when it is a string constant; other kinds are read past (JVMS 4.7.16.1)."""
    tag = chr(body.u1())
    if tag == "s":
        return pool.utf8(body.u2())
    if tag in "BCDFIJSZc":
        body.skip(2)
    elif tag == "e":
        body.skip(4)
    elif tag == "@":
        _annotation(body, pool, depth + 1)
    elif tag == "[":
        for _ in range(body.u2()):
            _element_value(body, pool, depth + 1)
    else:
        raise ClassFormatError(f"unknown annotation element tag {tag!r}")
    return None
