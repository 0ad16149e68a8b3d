SELECT * FROM `windows_events`
WHERE (lower(CAST(`Channel` AS STRING)) = 'microsoft-windows-sysmon/operational' AND CAST(`EventID` AS STRING) = '3' AND (CAST(`DestinationPort` AS STRING) = '5985' OR CAST(`DestinationPort` AS STRING) = '5986') AND NOT coalesce((lower(CAST(`User` AS STRING)) IN ('nt authority\\network service', 'nt authority\\system')), false))
