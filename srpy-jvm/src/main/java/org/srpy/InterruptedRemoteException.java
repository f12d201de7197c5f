package org.srpy;

/** The request was interrupted ({@code KeyboardInterrupt} in the engine, e.g. after {@link PythonEngine#interrupt()}). */
public class InterruptedRemoteException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public InterruptedRemoteException(String message) {
        super(message);
    }

    public InterruptedRemoteException(String message, Throwable cause) {
        super(message, cause);
    }
}
