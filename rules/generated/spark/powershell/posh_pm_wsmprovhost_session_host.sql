SELECT * FROM `windows_events`
WHERE ((lower(CAST(`Channel` AS STRING)) IN ('microsoft-windows-powershell/operational', 'powershellcore/operational')) AND CAST(`EventID` AS STRING) = '4103' AND lower(CAST(`Channel` AS STRING)) = 'microsoft-windows-powershell/operational' AND contains(lower(CAST(`ContextInfo` AS STRING)), 'wsmprovhost.exe'))
