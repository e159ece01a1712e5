import ArgumentParser
import Foundation
import RejoinSteps

/// The config file and the cluster's nodes: shared by rejoin, heal, keepalived-notify and
/// config check.
struct HAOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The config file (default: /etc/pg-rejoin/pg-rejoin.toml when it exists). The command line wins over it.", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("Every node of the cluster, comma-separated (this one may be listed too): with --from auto, the one primary among them is the upstream.", valueName: "host:port,..."))
    var peers: String?

    func validate() throws {
        if let config, config.isEmpty { throw ValidationError("--config must not be empty") }
        if let list = peerList, let problem = ConfigKeys.peerList(list) {
            throw ValidationError("--peers \(problem)")
        }
    }

    var peerList: [String]? {
        peers.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    /// The config file, loaded and checked (nil when there is none).
    func load() throws -> LoadedConfig? {
        try ConfigLoader.load(explicit: config)
    }
}
