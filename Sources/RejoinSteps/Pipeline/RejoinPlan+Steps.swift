extension StepKind {
    /// The step value for this kind; preflight is not in this table because it runs before the
    /// journal exists and produces the plan.
    public var step: (any Step)? {
        switch self {
        case .preflight: return nil
        case .stopLocal: return StopLocalStep()
        case .recoverLocal: return RecoverLocalStep()
        case .captureLost: return CaptureLostStep()
        case .rewind: return RewindStep()
        case .setAside: return SetAsideStep()
        case .clone: return CloneStep()
        case .keepLocalConfig: return KeepLocalConfigStep()
        case .writeStandbyConfig: return WriteStandbyConfigStep()
        case .swapIn: return SwapInStep()
        case .start: return StartStep()
        case .verify: return VerifyStep()
        }
    }
}
