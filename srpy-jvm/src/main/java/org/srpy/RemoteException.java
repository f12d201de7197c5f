package org.srpy;

/**
 * Remote Python code raised an exception. {@link #getRemoteType()} is its
 * type name ({@code "ZeroDivisionError"}, {@code "mymod.MyError"} for
 * non-builtins), {@link #getMessage()} reads {@code "Type: message"}, and
 * {@link #getRemoteTraceback()} is the traceback as Python prints it.
 */
public class RemoteException extends SRPyException {
    private static final long serialVersionUID = 1L;

    private final String remoteType;
    private final String remoteMessage;
    private final String remoteTraceback;

    public RemoteException(String remoteType, String remoteMessage, String remoteTraceback) {
        super(remoteType + ": " + remoteMessage);
        this.remoteType = remoteType;
        this.remoteMessage = remoteMessage;
        this.remoteTraceback = remoteTraceback;
    }

    /** The Python exception type name, e.g. {@code "KeyError"}. */
    public String getRemoteType() {
        return remoteType;
    }

    /** The exception's message alone ({@code str(exc)} in Python). */
    public String getRemoteMessage() {
        return remoteMessage;
    }

    /** The formatted remote traceback, or {@code null} when the engine sent none. */
    public String getRemoteTraceback() {
        return remoteTraceback;
    }
}
