package org.srpy;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the native library {@code srpy_jvm}: from the file named by the
 * system property {@code org.srpy.native.path} when set, else from the jar
 * ({@code org/srpy/native/<os>/<arch>/<libname>}, copied to a temporary
 * file), else from {@code java.library.path}. The jar carries the
 * {@code srpy-server} binary beside it ({@link #extract}).
 */
final class NativeLoader {
    /** System property naming an existing native library file to load instead of the jar's. */
    static final String PATH_PROPERTY = "org.srpy.native.path";
    private static boolean loaded;

    private NativeLoader() {
    }

    static synchronized void load() {
        if (loaded) {
            return;
        }
        String explicit = System.getProperty(PATH_PROPERTY);
        if (explicit != null && !explicit.isEmpty()) {
            File f = new File(explicit);
            if (!f.isFile()) {
                throw new UnsatisfiedLinkError(PATH_PROPERTY + "=" + explicit + " is not a file");
            }
            System.load(f.getAbsolutePath());
            loaded = true;
            return;
        }
        String lib = System.mapLibraryName("srpy_jvm");
        Path extracted;
        try {
            extracted = extract(lib, false);
        } catch (UnsatisfiedLinkError e) {
            throw new UnsatisfiedLinkError(e.getMessage() + " (set -D" + PATH_PROPERTY + "=/path/to/" + lib
                    + " to load it from a file)");
        }
        if (extracted != null) {
            System.load(extracted.toAbsolutePath().toString());
            loaded = true;
            return;
        }
        try {
            System.loadLibrary("srpy_jvm");
            loaded = true;
        } catch (UnsatisfiedLinkError e) {
            throw new UnsatisfiedLinkError("the SRPy native library for " + osName() + "/" + archName()
                    + " is not in this jar (" + resource(lib) + ") nor on java.library.path; set -D"
                    + PATH_PROPERTY + "=/path/to/" + lib);
        }
    }

    /** The jar's resource of a native file for this platform. */
    static String resource(String fileName) {
        return "/org/srpy/native/" + osName() + "/" + archName() + "/" + fileName;
    }

    /**
     * Copies the jar's native file {@code fileName} for this platform (the
     * library, the server binary) to a temporary file deleted at exit;
     * null when the jar has none.
     */
    static Path extract(String fileName, boolean executable) {
        String resource = resource(fileName);
        try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                return null;
            }
            Path tmp = Files.createTempFile(tempDir(), "srpy-", "-" + fileName);
            tmp.toFile().deleteOnExit();
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            if (executable && !tmp.toFile().setExecutable(true, true)) {
                throw new IOException("cannot make " + tmp + " executable");
            }
            return tmp;
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("cannot extract " + resource + ": " + e);
        }
    }

    private static Path tempDir() throws IOException {
        String d = System.getProperty("org.srpy.tmpdir");
        if (d == null || d.isEmpty()) {
            d = System.getProperty("java.io.tmpdir");
        }
        Path p = new File(d).toPath();
        Files.createDirectories(p);
        return p;
    }

    /** Operating system name, normalized like sqlite-jdbc: linux, mac, windows, freebsd, … */
    static String osName() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (os.contains("windows")) {
            return "windows";
        }
        if (os.contains("mac") || os.contains("darwin")) {
            return "mac";
        }
        if (os.contains("linux")) {
            return "linux";
        }
        if (os.contains("freebsd")) {
            return "freebsd";
        }
        return os.replaceAll("\\W", "");
    }

    /** Architecture name, normalized: x86_64, x86, aarch64, arm, ppc64le, s390x, riscv64, … */
    static String archName() {
        String a = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        switch (a) {
            case "amd64": case "x86_64": case "x86-64": case "em64t": case "x64":
                return "x86_64";
            case "x86": case "i386": case "i486": case "i586": case "i686":
                return "x86";
            case "aarch64": case "arm64":
                return "aarch64";
            case "ppc64le":
                return "ppc64le";
            default:
                return a.startsWith("arm") ? "arm" : a.replaceAll("\\W", "");
        }
    }
}
