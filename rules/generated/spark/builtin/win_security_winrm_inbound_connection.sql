SELECT * FROM `windows_events`
WHERE (lower(CAST(`Channel` AS STRING)) = 'security' AND CAST(`EventID` AS STRING) = '5156' AND (CAST(`DestPort` AS STRING) = '5985' OR CAST(`DestPort` AS STRING) = '5986') AND CAST(`LayerRTID` AS STRING) = '44')
