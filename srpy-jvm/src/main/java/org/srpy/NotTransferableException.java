package org.srpy;

/** A value has no wire form (remote: e.g. a module or a class instance; local: a pickled value). */
public class NotTransferableException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public NotTransferableException(String message) {
        super(message);
    }

    public NotTransferableException(String message, Throwable cause) {
        super(message, cause);
    }
}
