package org.srpy;

/** Result of {@link PythonEngine#benchmark(int)}. */
public final class Benchmark {
    private final double netSeconds;
    private final double procSeconds;
    private final boolean busy;

    public Benchmark(double netSeconds, double procSeconds, boolean busy) {
        this.netSeconds = netSeconds;
        this.procSeconds = procSeconds;
        this.busy = busy;
    }

    /** Mean round trip of a ping, measured here, in seconds. */
    public double getNetSeconds() {
        return netSeconds;
    }

    /** Seconds the engine took for its processor benchmark. */
    public double getProcSeconds() {
        return procSeconds;
    }

    /** Whether the engine was busy when asked. */
    public boolean isBusy() {
        return busy;
    }

    @Override
    public String toString() {
        return "Benchmark{netSeconds=" + netSeconds + ", procSeconds=" + procSeconds + ", busy=" + busy + "}";
    }
}
