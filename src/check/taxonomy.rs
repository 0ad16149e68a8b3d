//! The field table of the Sigma taxonomy for Windows log sources (`sigma-appendix-taxonomy.md`:
//! the generic categories take Sysmon's field names), as data in one place. Each category
//! lists its Sysmon event's fields, plus the fields SigmaHQ's own rules use for it (EDR
//! sources add `CommandLine` to file events, `Hashes` to image loads, ...), so a field missing
//! here is one no published rule uses. Log sources without a table are not checked.

/// Fields every Windows event has (the event envelope).
const COMMON: &[&str] = &[
    "EventID",
    "Channel",
    "Computer",
    "Provider_Name",
    "Level",
    "Task",
    "Keywords",
    "RuleName",
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
];

const PROCESS_CREATION: &[&str] = &[
    "Image",
    "FileVersion",
    "Description",
    "Product",
    "Company",
    "OriginalFileName",
    "CommandLine",
    "CurrentDirectory",
    "User",
    "LogonGuid",
    "LogonId",
    "TerminalSessionId",
    "IntegrityLevel",
    "Hashes",
    "imphash",
    "md5",
    "sha1",
    "sha256",
    "ParentProcessGuid",
    "ParentProcessId",
    "ParentImage",
    "ParentCommandLine",
    "ParentUser",
];

const FILE_EVENT: &[&str] = &[
    "Image",
    "TargetFilename",
    "CreationUtcTime",
    "PreviousCreationUtcTime",
    "User",
    "CommandLine",
    "ParentImage",
    "ParentCommandLine",
    "Hashes",
    "Contents",
    "Hash",
    "IsExecutable",
    "Archived",
    "FileName",
    "SourceFilename",
];

const REGISTRY: &[&str] = &[
    "EventType",
    "Image",
    "TargetObject",
    "Details",
    "NewName",
    "User",
];

const IMAGE_LOAD: &[&str] = &[
    "Image",
    "ImageLoaded",
    "FileVersion",
    "Description",
    "Product",
    "Company",
    "OriginalFileName",
    "Hashes",
    "Signed",
    "Signature",
    "SignatureStatus",
    "User",
    "CommandLine",
];

const NETWORK_CONNECTION: &[&str] = &[
    "Image",
    "User",
    "Protocol",
    "Initiated",
    "SourceIsIpv6",
    "SourceIp",
    "SourceHostname",
    "SourcePort",
    "SourcePortName",
    "DestinationIsIpv6",
    "DestinationIp",
    "DestinationHostname",
    "DestinationPort",
    "DestinationPortName",
    "CommandLine",
    "ParentImage",
];

const DNS_QUERY: &[&str] = &["Image", "QueryName", "QueryStatus", "QueryResults", "User"];

const PROCESS_ACCESS: &[&str] = &[
    "SourceProcessGUID",
    "SourceProcessId",
    "SourceThreadId",
    "SourceImage",
    "TargetProcessGUID",
    "TargetProcessId",
    "TargetImage",
    "GrantedAccess",
    "CallTrace",
    "SourceUser",
    "TargetUser",
];

const CREATE_REMOTE_THREAD: &[&str] = &[
    "SourceProcessGuid",
    "SourceProcessId",
    "SourceImage",
    "TargetProcessGuid",
    "TargetProcessId",
    "TargetImage",
    "NewThreadId",
    "StartAddress",
    "StartModule",
    "StartFunction",
    "SourceUser",
    "TargetUser",
    "SourceParentImage",
    "SourceCommandLine",
    "TargetParentProcessId",
];

const PIPE_CREATED: &[&str] = &["EventType", "PipeName", "Image", "User"];

const DRIVER_LOAD: &[&str] = &[
    "ImageLoaded",
    "Hashes",
    "Signed",
    "Signature",
    "SignatureStatus",
];

const RAW_ACCESS_THREAD: &[&str] = &["Image", "Device", "User"];

const CREATE_STREAM_HASH: &[&str] = &[
    "Image",
    "TargetFilename",
    "CreationUtcTime",
    "Hash",
    "Contents",
    "User",
];

const PS_SCRIPT: &[&str] = &[
    "MessageNumber",
    "MessageTotal",
    "ScriptBlockText",
    "ScriptBlockId",
    "Path",
];

const PS_MODULE: &[&str] = &["ContextInfo", "UserData", "Payload"];

const PROCESS_TAMPERING: &[&str] = &["Image", "Type", "User"];

/// The fields of a Windows log-source category, when sigc has its table.
pub(crate) fn fields(
    product: Option<&str>,
    category: Option<&str>,
) -> Option<(&'static [&'static str], &'static [&'static str])> {
    if product != Some("windows") {
        return None;
    }
    let table = match category? {
        "process_creation" => PROCESS_CREATION,
        "file_event"
        | "file_delete"
        | "file_rename"
        | "file_change"
        | "file_access"
        | "file_executable_detected"
        | "file_block_executable" => FILE_EVENT,
        "registry_set" | "registry_event" | "registry_add" | "registry_delete"
        | "registry_rename" => REGISTRY,
        "image_load" => IMAGE_LOAD,
        "network_connection" => NETWORK_CONNECTION,
        "dns_query" => DNS_QUERY,
        "process_access" => PROCESS_ACCESS,
        "create_remote_thread" => CREATE_REMOTE_THREAD,
        "pipe_created" => PIPE_CREATED,
        "driver_load" => DRIVER_LOAD,
        "raw_access_thread" => RAW_ACCESS_THREAD,
        "create_stream_hash" => CREATE_STREAM_HASH,
        "ps_script" => PS_SCRIPT,
        "ps_module" => PS_MODULE,
        "process_tampering" => PROCESS_TAMPERING,
        _ => return None,
    };
    Some((table, COMMON))
}
