package org.srpy;

import java.io.File;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Locale;

/**
 * Benchmark of the JVM client (not a test):
 * {@code mvn -q -f srpy-jvm/pom.xml test-compile exec:java@bench}.
 *
 * <ul>
 * <li>{@code eval("1+1")} round trip from Java, p50/p99 over 2,000 calls
 *     after 2,000 warm-up calls, against the Rust client's own round trip on
 *     the same connection in the same run (blocks of 500 interleaved);</li>
 * <li>a 64 MiB {@code byte[]} {@code set} and {@code get}, in GB/s (best and
 *     median of 5).</li>
 * </ul>
 * Uses a private server (SRPY_SERVER_BIN, SRPY_PYTHON as the tests do).
 */
public final class Bench {
    private Bench() {
    }

    static Path repo() {
        String r = System.getProperty("srpy.repo");
        if (r != null) {
            return Paths.get(r);
        }
        Path here = Paths.get("").toAbsolutePath();
        return here.resolve("Cargo.toml").toFile().exists() ? here : here.getParent();
    }

    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v != null && !v.isEmpty() ? v : dflt;
    }

    public static void main(String[] args) {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        String bin = env("SRPY_SERVER_BIN", repo().resolve("target/release/srpy-server").toString());
        File venv = repo().resolve(".venv/bin/python").toFile();
        String python = env("SRPY_PYTHON", venv.exists() ? venv.toString() : "python3");
        try (LocalServer srv = new LocalServer(1, python, bin); PythonEngine eng = srv.connect(0)) {
            System.out.println("SRPy JVM benchmark (" + System.getProperty("java.vm.name") + " "
                    + System.getProperty("java.version") + ", " + Runtime.getRuntime().availableProcessors() + " CPUs)");
            for (int i = 0; i < calls; i++) {
                eng.eval("1+1");
            }
            eng.rustEvalNanos("1+1", calls);
            long[] java = new long[calls];
            long[] rust = new long[calls];
            int block = 500;
            for (int done = 0; done < calls; done += block) {
                int n = Math.min(block, calls - done);
                for (int i = 0; i < n; i++) {
                    long t = System.nanoTime();
                    eng.eval("1+1");
                    java[done + i] = System.nanoTime() - t;
                }
                System.arraycopy(eng.rustEvalNanos("1+1", n), 0, rust, done, n);
            }
            Arrays.sort(java);
            Arrays.sort(rust);
            System.out.println(String.format(Locale.ROOT,
                    "eval(\"1+1\") round trip, %d calls: Java p50 %.1f us, p99 %.1f us | Rust client p50 %.1f us, p99 %.1f us"
                            + " | Java - Rust at p50: %+.1f us",
                    calls, us(java, 0.50), us(java, 0.99), us(rust, 0.50), us(rust, 0.99),
                    us(java, 0.50) - us(rust, 0.50)));

            byte[] blob = new byte[64 << 20];
            for (int i = 0; i < blob.length; i += 4096) {
                blob[i] = (byte) i;
            }
            double[] set = new double[5];
            double[] get = new double[5];
            for (int r = 0; r < 5; r++) {
                long t = System.nanoTime();
                eng.set("blob", blob);
                set[r] = (System.nanoTime() - t) / 1e9;
                t = System.nanoTime();
                byte[] back = (byte[]) eng.get("blob");
                get[r] = (System.nanoTime() - t) / 1e9;
                if (back.length != blob.length || back[4096] != blob[4096]) {
                    throw new IllegalStateException("bad round trip");
                }
            }
            Arrays.sort(set);
            Arrays.sort(get);
            double gb = blob.length / 1e9;
            System.out.println(String.format(Locale.ROOT,
                    "64 MiB byte[]: set %.2f GB/s (median %.2f), get %.2f GB/s (median %.2f)",
                    gb / set[0], gb / set[2], gb / get[0], gb / get[2]));
            eng.exec("del blob");
            double[] rb = eng.rustBytesSeconds(blob.length, 5);
            double[] rset = Arrays.copyOfRange(rb, 0, 5);
            double[] rget = Arrays.copyOfRange(rb, 5, 10);
            Arrays.sort(rset);
            Arrays.sort(rget);
            System.out.println(String.format(Locale.ROOT,
                    "64 MiB bytes, Rust client on the same connection: set %.2f GB/s (median %.2f), get %.2f GB/s (median %.2f)",
                    gb / rset[0], gb / rset[2], gb / rget[0], gb / rget[2]));
        }
    }

    static double us(long[] sorted, double q) {
        int i = (int) Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)));
        return sorted[i] / 1000.0;
    }
}
