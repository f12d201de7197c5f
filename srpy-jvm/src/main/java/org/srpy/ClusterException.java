package org.srpy;

import java.util.Collections;
import java.util.List;

/** Too few hosts of a {@link Cluster} started: each failed host with its reason. */
public class ClusterException extends SRPyException {
    private static final long serialVersionUID = 1L;

    private final transient List<Cluster.HostFailure> failures;

    public ClusterException(String message, List<Cluster.HostFailure> failures) {
        super(message);
        this.failures = Collections.unmodifiableList(failures);
    }

    /** The hosts that did not start, with the reasons. */
    public List<Cluster.HostFailure> getFailures() {
        return failures;
    }
}
