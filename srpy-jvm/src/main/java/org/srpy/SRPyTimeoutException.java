package org.srpy;

/** A call (or connecting) did not finish in time. A timed-out call's engine is sent an interrupt. */
public class SRPyTimeoutException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public SRPyTimeoutException(String message) {
        super(message);
    }

    public SRPyTimeoutException(String message, Throwable cause) {
        super(message, cause);
    }
}
