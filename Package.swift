// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "pg-rejoin",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pg-rejoin", targets: ["PgRejoin"]),
        .library(name: "RejoinSteps", targets: ["RejoinSteps"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // System libraries: a module map and a shim header each, nothing else.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CLibArchive",
            pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]
        ),
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CXXHash",
            pkgConfig: "libxxhash",
            providers: [.apt(["libxxhash-dev"])]
        ),
        // sync_file_range, a GNU extension Swift's Glibc module leaves out.
        .systemLibrary(name: "CLinux"),
        .target(
            name: "RejoinSteps",
            dependencies: [
                "CLibPQ",
                "CLibArchive",
                "CLibCrypto",
                "CLinux",
                "CXXHash",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "PgRejoin",
            dependencies: [
                "RejoinSteps",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "RejoinStepsTests",
            dependencies: ["RejoinSteps"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The CLI's own logic (config file, merging, notify arguments), tested in-process.
        .testTarget(
            name: "PgRejoinTests",
            dependencies: ["PgRejoin"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["RejoinSteps"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
