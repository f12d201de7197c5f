package org.srpy;

import java.io.File;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The real server the tests run against: one private srpy-server with two
 * engines per test JVM (started on first use, stopped at exit). The binary
 * comes from SRPY_SERVER_BIN (default {@code <repo>/target/release/srpy-server}),
 * the engines' Python from SRPY_PYTHON (default {@code <repo>/.venv/bin/python}).
 */
final class TestServer {
    private static LocalServer server;

    private TestServer() {
    }

    static Path repo() {
        String r = System.getProperty("srpy.repo");
        return (r == null ? Paths.get("..") : Paths.get(r)).toAbsolutePath().normalize();
    }

    static String serverBin() {
        String e = System.getenv("SRPY_SERVER_BIN");
        return e != null && !e.isEmpty() ? e : repo().resolve("target/release/srpy-server").toString();
    }

    static String python() {
        String e = System.getenv("SRPY_PYTHON");
        if (e != null && !e.isEmpty()) {
            return e;
        }
        File venv = repo().resolve(".venv/bin/python").toFile();
        return venv.exists() ? venv.toString() : "python3";
    }

    static synchronized LocalServer get() {
        if (server == null) {
            server = new LocalServer(2, python(), serverBin());
        }
        return server;
    }

    /** A fresh connection to engine {@code i}, its namespace cleared. */
    static PythonEngine engine(int i) {
        PythonEngine e = get().connect(i);
        e.clear();
        return e;
    }
}
