package org.srpy.it;

import org.srpy.LocalServer;
import org.srpy.PythonEngine;

/**
 * A program that uses SRPy and ends without closing anything; run in a child
 * JVM by {@code ExitIT}, which checks that the JVM exits by itself.
 * Modes: {@code engine <uri>} (token from SRPY_TOKEN), {@code local}
 * ({@code new LocalServer(1)}: everything found by itself).
 */
public final class NoCloseMain {
    private NoCloseMain() {
    }

    public static void main(String[] args) {
        PythonEngine eng;
        if (args[0].equals("local")) {
            LocalServer srv = new LocalServer(1);
            System.out.println("server-pid " + srv.getPid());
            eng = srv.connect(0);
        } else {
            eng = new PythonEngine(args[1]);
        }
        eng.exec("print('engine output')");
        eng.setAsync("late", 1);
        System.out.println("result " + eng.eval("6 * 7"));
        // no close(): the JVM must still exit
    }
}
