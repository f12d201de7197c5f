package org.srpy;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What a {@link LocalServer} runs: the server binary (the jar's own, beside
 * the native library) and the engines' Python (one that can {@code import
 * srpy}), found without any configuration.
 */
final class LocalLaunch {
    /** System property naming the engines' Python. */
    static final String PYTHON_PROPERTY = "srpy.python";
    /** Environment variable naming the engines' Python. */
    static final String PYTHON_ENV = "SRPY_PYTHON";
    /** Environment variable naming a server binary to use instead of the jar's. */
    static final String SERVER_BIN_ENV = "SRPY_SERVER_BIN";
    /** The command that makes a Python fit to run engines. */
    static final String INSTALL_COMMAND = "python3 -m pip install srpy";

    private static String foundPython;
    private static String jarServer;

    private LocalLaunch() {
    }

    /** The first candidate that is set and not empty, else null. */
    private static String firstGiven(String... candidates) {
        for (String c : candidates) {
            if (c != null && !c.isEmpty()) {
                return c;
            }
        }
        return null;
    }

    /**
     * The server binary: {@code explicit}, else {@code SRPY_SERVER_BIN},
     * else the jar's {@code srpy-server} for this platform.
     */
    static synchronized String serverBin(String explicit) {
        String named = firstGiven(explicit, System.getenv(SERVER_BIN_ENV));
        if (named != null) {
            return named;
        }
        if (jarServer == null) {
            Path p = NativeLoader.extract("srpy-server", true);
            if (p == null) {
                throw new SRPyException("this jar has no srpy-server for " + NativeLoader.osName() + "/"
                        + NativeLoader.archName() + " (" + NativeLoader.resource("srpy-server")
                        + "): pass the server binary to new LocalServer(engines, python, serverBin)");
            }
            jarServer = p.toString();
        }
        return jarServer;
    }

    /**
     * The engines' Python: {@code explicit}, else the system property
     * {@code srpy.python}, else {@code SRPY_PYTHON}, else the first
     * {@code python3} or {@code python} on {@code PATH} that can
     * {@code import srpy}.
     */
    static synchronized String python(String explicit) {
        String named = firstGiven(explicit, System.getProperty(PYTHON_PROPERTY), System.getenv(PYTHON_ENV));
        if (named != null) {
            return named;
        }
        if (foundPython != null) {
            return foundPython;
        }
        List<String> tried = new ArrayList<>();
        String path = System.getenv("PATH");
        for (String dir : (path == null ? "" : path).split(File.pathSeparator)) {
            for (String name : new String[] {"python3", "python"}) {
                File f = new File(dir.isEmpty() ? "." : dir, name);
                if (!f.isFile() || !f.canExecute() || tried.contains(f.getPath())) {
                    continue;
                }
                tried.add(f.getPath());
                if (canImportSrpy(f.getPath())) {
                    foundPython = f.getPath();
                    return foundPython;
                }
            }
        }
        throw new SRPyException("no Python for the engines: "
                + (tried.isEmpty() ? "there is no python3 or python on PATH"
                        : "none of " + String.join(", ", tried) + " can import srpy")
                + ". Install the srpy package into one:\n    " + INSTALL_COMMAND
                + "\nor name an interpreter that has it: -D" + PYTHON_PROPERTY + "=/path/to/python, the "
                + PYTHON_ENV + " environment variable, or new LocalServer(engines, \"/path/to/python\", null)");
    }

    private static boolean canImportSrpy(String python) {
        try {
            Process p = new ProcessBuilder(python, "-c", "import srpy")
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
