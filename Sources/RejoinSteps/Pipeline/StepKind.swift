/// The steps of a rejoin, in order. The raw value is the journal key and what the output shows.
public enum StepKind: String, Codable, CaseIterable, Sendable {
    case preflight
    case stopLocal = "stop-local"
    case recoverLocal = "recover-local"
    case captureLost = "capture-lost"
    case rewind
    case setAside = "set-aside"
    case clone
    case keepLocalConfig = "keep-local-config"
    case writeStandbyConfig = "write-standby-config"
    case swapIn = "swap-in"
    case start
    case verify
}
