package org.srpy;

/** The peer broke the protocol, sent something this client cannot read, or client and server share no protocol version. */
public class ProtocolException extends SRPyException {
    private static final long serialVersionUID = 1L;

    public ProtocolException(String message) {
        super(message);
    }

    public ProtocolException(String message, Throwable cause) {
        super(message, cause);
    }
}
