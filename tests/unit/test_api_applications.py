"""Applications, revisions and uploads through the REST API (falcon's TestClient over a real Bus
on a real SQLite file): real zip files built here, every bad input refused with nothing stored."""
from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import falcon.testing
import pytest

from jsbus.api.app import create_app
from jsbus.bus import Bus
from jsbus.config import load_bus_config
from tests.conftest import admin_headers
from tests.trusted_agent import trusted
from tests.unit.test_api import agent_document

pytestmark = pytest.mark.timeout(60)


def messages(response) -> str:
    assert set(response.json) == {"messages"}, response.json
    return " | ".join(response.json["messages"])


def archive(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as out:
        for name, data in members.items():
            out.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def wheel(version: str) -> tuple[str, bytes]:
    return (f"shop_parts-{version}-py3-none-any.whl",
            archive({"shop_parts/__init__.py": f"V = {version!r}\n".encode(),
                     f"shop_parts-{version}.dist-info/METADATA": b"Name: shop-parts\n"}))


def jar(artifact: str, version: str) -> tuple[str, bytes]:
    pom = f"groupId=org.example\nartifactId={artifact}\nversion={version}\n".encode()
    return (f"{artifact}-{version}.jar",
            archive({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
                     f"META-INF/maven/org.example/{artifact}/pom.properties": pom}))


def multipart(*files: tuple[str, bytes], field: str = "file") -> tuple[bytes, str]:
    boundary = "jsbus-test-boundary"
    body = b""
    for name, data in files:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                 f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                 ).encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(client, app: str, *files, field: str = "file"):
    body, content_type = multipart(*files, field=field)
    return client.simulate_post(f"/{app}/batch-components", body=body,
                                headers={"content-type": content_type})


@pytest.fixture
def roots(tmp_path) -> Path:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    return allowed


@pytest.fixture
def limited(tmp_path, roots):
    config = load_bus_config(environ={}).with_overrides({
        "bus.database": f"sqlite:///{tmp_path / 'bus.db'}", "bus.data_dir": str(tmp_path),
        "discovery.enabled": False, "apps.allowed_roots": [str(roots)],
        "apps.max_upload_bytes": 200_000, "apps.max_expanded_bytes": 300_000,
        "apps.max_ratio": 50.0})
    bus = Bus(config)
    bus.start()
    yield bus, falcon.testing.TestClient(create_app(bus), headers=admin_headers(bus))
    bus.stop()


def test_uploads_make_revisions_and_newer_versions_replace_older(limited):
    bus, client = limited
    first = upload(client, "shop", wheel("1.0"), jar("parts", "1.2"))
    assert first.status_code == 201, first.json
    assert first.json["application/revision"] == 1
    assert [a["artifact/version"] for a in first.json["artifacts"]] == ["1.0", "1.2"]
    older_jar = upload(client, "shop", jar("parts", "1.10-SNAPSHOT"), jar("parts", "1.1"))
    assert older_jar.json["application/revision"] == 2
    newer = upload(client, "shop", wheel("1.10"))
    classpath = newer.json["application/classpaths"]
    assert [entry.rsplit("/", 1)[1] for entry in classpath] == [
        "shop_parts-1.10-py3-none-any.whl", "parts-1.10-SNAPSHOT.jar"]
    assert newer.json["application/revision"] == 3
    assert client.simulate_get("/app/shop").json["application/revision"] == 3
    old = bus.storage.get_application("shop", revision=1)
    assert [entry.rsplit("/", 1)[1] for entry in old.classpath] == [
        "shop_parts-1.0-py3-none-any.whl", "parts-1.2.jar"]
    sha = newer.json["artifacts"][0]["artifact/sha256"]
    agent = trusted(client, "agent-1")
    agent.enroll(agent_document("agent-1"))
    fetched = agent.get(f"/artifacts/{sha}")
    assert fetched.status_code == 200 and fetched.headers["x-checksum-sha256"] == sha
    assert fetched.content == wheel("1.10")[1]
    assert agent.get(f"/artifacts/{'0' * 64}").status_code == 404
    assert agent.get("/artifacts/not-a-hash").status_code == 404
    refused = client.simulate_get(f"/artifacts/{sha}")  # a user, even the admin: not signed
    assert refused.status_code == 401 and "must be signed" in refused.json["messages"][0]
    deployed = client.simulate_post("/apps", json={"name": "shop", "classpath": classpath})
    assert deployed.status_code == 200 and deployed.json["application/revision"] == 4


@pytest.mark.parametrize("files, status, expected", [
    ([("notes.txt", b"hello")], 400, "must be a wheel (.whl), a zip (.zip) or a jar (.jar)"),
    ([("broken.zip", b"PK\x03\x04 not really a zip")], 400, "not a readable zip archive"),
    ([("evil.zip", archive({"../escape.py": b"x"}))], 400, "absolute or '..' name"),
    ([("evil.jar", archive({"/etc/passwd": b"x"}))], 400, "absolute or '..' name"),
    ([("bomb.zip", archive({"zeros": b"\0" * 250_000}))], 400, "apps.max_ratio"),
    ([("huge.zip", archive({"a": b"\0" * 150_000, "b": b"\0" * 160_000},
                           zipfile.ZIP_STORED))], 413, "apps.max_upload_bytes"),
    ([("wide.zip", archive({f"m{i}": bytes(random.Random(i).choices(b"abcd", k=10_000))
                            for i in range(35)}))], 413, "apps.max_expanded_bytes"),
    ([("strange-name.whl", archive({"a.py": b"x"}))], 400, "not a wheel file name"),
])
def test_bad_uploads_are_refused_and_nothing_is_stored(limited, tmp_path, files, status,
                                                        expected):
    bus, client = limited
    response = upload(client, "shop", wheel("1.0"), *files)
    assert response.status_code == status, response.json
    assert expected in messages(response)
    assert client.simulate_get("/app/shop").status_code == 404
    assert [p.name for p in bus.artifacts.directory.rglob("*")] == [], "nothing stored"


def test_an_upload_without_files_or_not_multipart_is_refused(limited):
    _, client = limited
    assert "no part named 'file'" in messages(upload(client, "shop", wheel("1.0"), field="x"))
    response = client.simulate_post("/shop/batch-components", json={"file": "x"})
    assert response.status_code == 400 and "multipart/form-data" in messages(response)


def test_classpath_entries_must_be_allowed_files_or_known_artifacts(limited, roots, tmp_path):
    _, client = limited
    module = roots / "job_module.py"
    module.write_text("X = 1\n")
    (roots / "lib").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    good = client.simulate_post("/apps", json={"name": "a", "classpath": [
        module.as_uri(), (roots / "lib").as_uri()]})
    assert good.status_code == 201, good.json
    for entry, expected in [
            (outside.as_uri(), "outside apps.allowed_roots"),
            ("https://example.invalid/app.whl", "must be a file:// URL or an uploaded artifact"),
            (f"sha256:{'a' * 64}/x.whl", "no artifact was uploaded"),
            ((roots / "missing.whl").as_uri(), "is not an existing directory, wheel")]:
        response = client.simulate_post("/apps", json={"name": "a", "classpath": [entry]})
        assert response.status_code == 400 and expected in messages(response), entry
    assert client.simulate_get("/app/a").json["application/revision"] == 1


def test_an_application_with_jobs_is_deleted_only_with_cascade(client, deployed):
    app, job = deployed
    refused = client.simulate_delete(f"/app/{app}")
    assert refused.status_code == 409 and job in messages(refused)
    assert client.simulate_get(f"/{app}/job/{job}").status_code == 200
    gone = client.simulate_delete(f"/app/{app}", params={"cascade": "true"})
    assert gone.status_code == 200 and gone.json["deleted-jobs"] == [job]
    assert client.simulate_get(f"/app/{app}").status_code == 404
    assert client.simulate_delete(f"/app/{app}").status_code == 404


def test_batch_components_lists_what_the_scanners_find_builtins_first(client, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "shop_steps.py").write_text(
        "from jsagent.api import Batchlet, ItemReader, JobListener, named\n"
        "class Load(Batchlet):\n    def process(self):\n        return 'OK'\n"
        "@named('rows')\nclass Rows(ItemReader):\n    def read_item(self):\n        return None\n"
        "class Audit(JobListener):\n    pass\n")
    (code / "broken_steps.py").write_text("raise ImportError('no such thing')\n")
    assert client.simulate_post("/apps", json={"name": "shop", "classpath": [
        code.as_uri()]}).status_code == 201
    found = client.simulate_get("/shop/batch-components")
    assert found.status_code == 200, found.json
    body = found.json
    assert body["batch-component/batchlet"] == ["shell", "python-main", "java-main",
                                                 "shop_steps.Load"]
    assert body["batch-component/item-reader"] == ["rows"]
    assert body["batch-component/listener"] == ["shop_steps.Audit"]
    assert body["batch-component/item-writer"] == []
    assert body["batch-component/application"] == {"application/name": "shop",
                                                   "application/revision": 1}
    assert any("broken_steps" in problem for problem in body["batch-component/problems"])
    assert client.simulate_get("/nowhere/batch-components").status_code == 404


@pytest.mark.timeout(120)
def test_an_uploaded_jar_lists_its_java_components(client, tmp_path):
    from tests.unit.test_scan_java import JAR, JAVAC, compile_java, jar
    if not (JAVAC and JAR):
        pytest.skip("needs javac and jar")
    sources = {
        "javax/batch/api/Batchlet.java": "package javax.batch.api; public interface Batchlet {}",
        "javax/batch/api/AbstractBatchlet.java": "package javax.batch.api; public abstract "
                                                 "class AbstractBatchlet implements Batchlet {}",
        "javax/inject/Named.java": "package javax.inject; import java.lang.annotation.*; "
                                   "@Retention(RetentionPolicy.RUNTIME) public @interface Named "
                                   "{ String value() default \"\"; }",
        "org/example/Hello.java": "package org.example; @javax.inject.Named(\"hello\") public "
                                  "class Hello extends javax.batch.api.AbstractBatchlet {}"}
    classes = compile_java(sources, tmp_path)
    built = jar(tmp_path / "hello-1.0.jar", classes, "org/example")
    response = upload(client, "java-shop", (built.name, built.read_bytes()))
    assert response.status_code == 201, response.json
    found = client.simulate_get("/java-shop/batch-components").json
    assert found["batch-component/batchlet"] == ["shell", "python-main", "java-main", "hello"]
    [detail] = found["batch-component/details"]
    assert (detail["class"], detail["language"]) == ("org.example.Hello", "java")
